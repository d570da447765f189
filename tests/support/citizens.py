"""The test registry's population: named personas, generated valid under the `za` scheme.

tests.support.plugin writes them to a CSV and starts the registry simulator on it.
"""

import csv
import random
from dataclasses import dataclass
from datetime import date

from identity.national_id import get_scheme

SCHEME = "za"


@dataclass(frozen=True)
class Citizen:
    national_id: str
    first_name: str
    last_name: str
    date_of_birth: date
    status: str = "alive"

    @property
    def full_name(self):
        return f"{self.first_name} {self.last_name}"


def _population():
    rng = random.Random(20261122)
    scheme = get_scheme(SCHEME)
    today = date.today()
    people = {}

    def add(key, first, last, born, status="alive"):
        people[key] = Citizen(scheme.generate(rng, born), first, last, born, status)

    adults = [
        "alice",
        "bob",
        "carol",
        "dave",
        "erin",
        "frank",
        "grace",
        "heidi",
        "ivan",
        "judy",
        "mallory",
        "niaj",
        "olivia",
        "peggy",
        "rupert",
        "sybil",
        "trent",
        "victor",
        "walter",
        "yolanda",
    ]
    for i, name in enumerate(adults):
        add(name, name.capitalize(), "Tester", date(1960 + i, 1 + i % 12, 1 + i))
    add("deceased", "Dora", "Departed", date(1950, 5, 17), status="deceased")
    add("minor", "Max", "Minor", date(today.year - 10, 6, 15))
    add("just_adult", "Adam", "Eighteen", date(today.year - 18, 1, 1))
    add("canary", "Canary", "Bird", date(1977, 7, 7))
    return people


CITIZENS = _population()


def write_csv(path):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["national_id", "first_name", "last_name", "date_of_birth", "status"])
        for c in CITIZENS.values():
            writer.writerow(
                [c.national_id, c.first_name, c.last_name, c.date_of_birth.isoformat(), c.status]
            )


def unregistered():
    """A valid number the registry does not know."""
    rng = random.Random(7)
    number = get_scheme(SCHEME).generate(rng, date(1985, 3, 3))
    assert number not in {c.national_id for c in CITIZENS.values()}
    return Citizen(number, "Nobody", "Known", date(1985, 3, 3))
