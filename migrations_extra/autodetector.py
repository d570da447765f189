"""One migration autodetector for both django-pgtrigger and django-pgviews-redux.

Each library ships its own: pgtrigger patches Django's makemigrations/migrate commands,
and django_pgviews replaces those commands with its own, which hides pgtrigger's patch.
Trigger changes were then silently missed (and `makemigrations --dry-run -v3` crashed
with "Cannot serialize: pgtrigger.core.Trigger"). pollsite's commands use this class.
"""

from django_pgviews.db.migrations.autodetector import PGViewsAutodetector
from pgtrigger.migrations import MigrationAutodetectorMixin


class PollsAutodetector(MigrationAutodetectorMixin, PGViewsAutodetector):
    pass
