"""The simulator's citizens: from a CSV file (REGISTRY_SIM_DATA), or a demo population
that is the same on every run for a given national ID scheme."""

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta

from identity.national_id import InvalidNationalId, Scheme
from identity.registry_protocol import ALIVE, CITIZEN_FIELDS, DECEASED, STATUSES

CSV_FIELDS = list(CITIZEN_FIELDS)

DEMO_SEED = 20240601
DEMO_SIZE = 1000
DEMO_FIRST_BORN = date(1930, 1, 1)
DEMO_LAST_BORN = date(2015, 12, 31)
DEMO_DECEASED_SHARE = 0.05
FIRST_NAMES = (
    "Amara", "Bongani", "Chipo", "Dmitri", "Ewa", "Farah", "Gita", "Hendrik", "Imani", "Jaan",
    "Kagiso", "Liis", "Mandla", "Nomvula", "Olu", "Priya", "Rahul", "Sipho", "Thandiwe",
    "Wanjiru",
)  # fmt: skip
LAST_NAMES = (
    "Adeyemi", "Botha", "Dlamini", "Kamau", "Khumalo", "Mets", "Mokoena", "Naidoo", "Nkosi",
    "Okafor", "Otieno", "Patel", "Sharma", "Tamm", "van der Merwe", "Zulu",
)  # fmt: skip


class PopulationError(Exception):
    """The citizens file cannot be loaded; the message names the line, never a number."""


@dataclass(frozen=True)
class Citizen:
    national_id: str
    first_name: str
    last_name: str
    date_of_birth: date
    status: str

    def as_json(self) -> dict:
        return {
            "national_id": self.national_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "date_of_birth": self.date_of_birth.isoformat(),
            "status": self.status,
        }


def load_population(scheme: Scheme, csv_path: str | None) -> dict[str, Citizen]:
    """The citizens from `csv_path`, or the demo population when there is no file."""
    if csv_path:
        return read_csv(scheme, csv_path)
    return demo_population(scheme)


def read_csv(scheme: Scheme, csv_path: str) -> dict[str, Citizen]:
    citizens = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != CSV_FIELDS:
            raise PopulationError(f"{csv_path}: the header must be {','.join(CSV_FIELDS)}")
        for row in reader:
            try:
                citizen = _parse_row(scheme, row)
            except ValueError as exc:
                raise PopulationError(f"{csv_path}, line {reader.line_num}: {exc}") from None
            if citizen.national_id in citizens:
                raise PopulationError(f"{csv_path}, line {reader.line_num}: duplicate national_id")
            citizens[citizen.national_id] = citizen
    return citizens


def _parse_row(scheme: Scheme, row: dict) -> Citizen:
    """One CSV row as a Citizen; ValueError messages must not quote the number."""
    if None in row or None in row.values():
        raise ValueError(f"expected {len(CSV_FIELDS)} columns")
    try:
        number = scheme.validate(row["national_id"])
    except InvalidNationalId as exc:
        raise ValueError(f"invalid national_id: {exc}") from None
    try:
        born = date.fromisoformat(row["date_of_birth"])
    except ValueError:
        raise ValueError("date_of_birth is not a YYYY-MM-DD date") from None
    # A real registry never disagrees with its own numbers; catch a typo in test data here.
    if not scheme.matches_birth_date(number, born):
        raise ValueError("date_of_birth does not match the date in national_id")
    if row["status"] not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    if not row["first_name"].strip() or not row["last_name"].strip():
        raise ValueError("first_name and last_name are required")
    return Citizen(number, row["first_name"], row["last_name"], born, row["status"])


def demo_population(scheme: Scheme) -> dict[str, Citizen]:
    """About DEMO_SIZE citizens, the same ones on every run for a given scheme."""
    # Not for security: a fixed seed makes the demo numbers the same on every start.
    rng = random.Random(DEMO_SEED)  # noqa: S311
    span = (DEMO_LAST_BORN - DEMO_FIRST_BORN).days
    citizens = {}
    while len(citizens) < DEMO_SIZE:
        born = DEMO_FIRST_BORN + timedelta(days=rng.randint(0, span))
        status = DECEASED if rng.random() < DEMO_DECEASED_SHARE else ALIVE
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        number = scheme.generate(rng, born)
        # A duplicate draw is skipped; the next loop draws a new person.
        citizens.setdefault(number, Citizen(number, first, last, born, status))
    return citizens


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def demo_examples(citizens: dict[str, Citizen], today: date, voting_age: int) -> list:
    """(citizen, note) pairs for the banner: 3 alive adults, 1 deceased adult, 1 minor."""
    wanted = [("alive adult", 3), ("deceased adult", 1), ("minor", 1)]
    found = {note: [] for note, _ in wanted}
    for citizen in citizens.values():
        adult = age_on(citizen.date_of_birth, today) >= voting_age
        note = "minor" if not adult else f"{citizen.status} adult"
        if note in found:
            found[note].append(citizen)
    return [(c, note) for note, count in wanted for c in found[note][:count]]
