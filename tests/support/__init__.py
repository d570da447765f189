"""What the tests share, in one place: the throwaway servers (plugin, stack), the
registry's population (citizens) and remote control (registry_sim), and the helpers that
set up verified voters (voters) and votes (votes). Test modules import from here, never
from each other; fixtures live in tests/conftest.py."""
