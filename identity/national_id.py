"""National ID numbers: local format and check-digit validation, one Scheme per country.

Django-free, so the registry simulator and scripts can use it. The check digits come from
python-stdnum; this module adds the strict input rules stdnum leaves out (ASCII digits
only, only spaces and dashes as separators) and keeps every number out of error messages,
because messages end up in logs and API responses.
"""

import random
from datetime import date
from types import ModuleType

from stdnum import luhn, verhoeff
from stdnum.ee import ik
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.in_ import aadhaar
from stdnum.za import idnr


class InvalidNationalId(ValueError):
    """The number fails the scheme's format or check digit."""


class Scheme:
    """A national ID scheme that checks format only; subclasses add check digits and dates."""

    code: str
    label: str
    lengths: tuple[int, ...]

    def __init__(self, code: str, label: str, lengths: tuple[int, ...]):
        self.code = code
        self.label = label
        self.lengths = lengths

    def __repr__(self) -> str:
        return f"<Scheme {self.code}>"

    def canonicalize(self, raw: str) -> str:
        """The number without spaces and dashes; nothing else is removed or translated."""
        if not isinstance(raw, str):
            raise InvalidNationalId(f"The {self.label} must be a string.")
        return raw.replace(" ", "").replace("-", "")

    def validate(self, raw: str) -> str:
        """The canonical number, or InvalidNationalId (whose message never holds the number)."""
        number = self.canonicalize(raw)
        if not number:
            raise InvalidNationalId(f"The {self.label} is required.")
        # str.isdigit() alone accepts other scripts' digits ("١"), which no registry knows.
        if not (number.isascii() and number.isdigit()):
            raise InvalidNationalId(f"The {self.label} must contain only digits.")
        if len(number) not in self.lengths:
            sizes = " or ".join(str(n) for n in self.lengths)
            raise InvalidNationalId(f"The {self.label} must have {sizes} digits.")
        self._check(number)
        return number

    def _check(self, number: str) -> None:
        """Scheme rules beyond digits and length; raises InvalidNationalId."""

    def birth_date(self, number: str) -> date | None:
        """The date of birth encoded in the number, or None when the scheme has none."""
        self.validate(number)
        return None

    def matches_birth_date(self, number: str, dob: date) -> bool:
        """The number agrees with `dob`; always True when the scheme embeds no date."""
        embedded = self.birth_date(number)
        return embedded is None or embedded == dob

    def generate(self, rng: random.Random, birth_date: date) -> str:
        """A valid canonical number (demo data); `birth_date` is used where it is encoded."""
        length = self.lengths[-1]
        # A leading zero is valid, but real numbers of these schemes do not start with one.
        return str(rng.randint(1, 9)) + _digits(rng, length - 1)


class _StdnumScheme(Scheme):
    """A scheme whose remaining rules are python-stdnum's validate()."""

    def __init__(self, code: str, label: str, lengths: tuple[int, ...], module: ModuleType):
        super().__init__(code, label, lengths)
        self.module = module

    def _check(self, number: str) -> None:
        try:
            self.module.validate(number)
        except InvalidChecksum:
            raise InvalidNationalId(f"The {self.label} has a wrong check digit.") from None
        except ValidationError:
            # stdnum says InvalidComponent/InvalidFormat for a bad embedded date or a bad
            # fixed digit; both mean "no such number could have been issued".
            raise InvalidNationalId(f"This is not a valid {self.label}.") from None


class _SouthAfrica(_StdnumScheme):
    """YYMMDD SSSS C A Z: date of birth, sequence (sex), citizenship 0/1, a digit, Luhn."""

    def birth_date(self, number: str) -> date | None:
        # stdnum guesses the century (the number has none): the last 100 years.
        return idnr.get_birth_date(self.validate(number))

    def matches_birth_date(self, number: str, dob: date) -> bool:
        # Only two year digits are encoded, so compare YYMMDD, not the guessed century.
        return self.validate(number)[:6] == _yymmdd(dob)

    def generate(self, rng: random.Random, birth_date: date) -> str:
        # "8" is the digit (once a race code) that all numbers issued today carry.
        body = _yymmdd(birth_date) + _digits(rng, 4) + str(rng.randint(0, 1)) + "8"
        return body + luhn.calc_check_digit(body)


class _Estonia(_StdnumScheme):
    """G YYMMDD SSS C: century and sex, date of birth, serial, check digit."""

    # The first digit for (male, female) per century.
    _CENTURY_DIGITS = {18: "12", 19: "34", 20: "56", 21: "78"}

    def birth_date(self, number: str) -> date | None:
        return ik.get_birth_date(self.validate(number))

    def generate(self, rng: random.Random, birth_date: date) -> str:
        digits = self._CENTURY_DIGITS.get(birth_date.year // 100)
        if digits is None:
            raise ValueError(f"The {self.label} encodes birth years 1800 to 2199 only.")
        body = rng.choice(digits) + _yymmdd(birth_date) + _digits(rng, 3)
        # calc_check_digit() ignores the last character, so give it a placeholder.
        return body + ik.calc_check_digit(body + "0")


class _Aadhaar(_StdnumScheme):
    """12 digits, Verhoeff; stdnum also refuses a first digit 0 or 1 and palindromes."""

    def generate(self, rng: random.Random, birth_date: date) -> str:
        while True:
            body = str(rng.randint(2, 9)) + _digits(rng, 10)
            number = body + verhoeff.calc_check_digit(body)
            if number != number[::-1]:
                return number


def _digits(rng: random.Random, count: int) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(count))


def _yymmdd(day: date) -> str:
    return f"{day.year % 100:02d}{day.month:02d}{day.day:02d}"


SCHEMES: dict[str, Scheme] = {
    scheme.code: scheme
    for scheme in (
        _SouthAfrica("za", "South African ID number", (13,), idnr),
        _Estonia("ee", "Estonian personal identification code", (11,), ik),
        _Aadhaar("in", "Aadhaar number", (12,), aadhaar),
        Scheme("ke", "Kenyan national ID number", (7, 8)),
        Scheme("ng", "Nigerian National Identification Number", (11,)),
    )
}


def get_scheme(code: str) -> Scheme:
    """The scheme for `code`, or ValueError naming the known codes."""
    try:
        return SCHEMES[code]
    except KeyError:
        known = ", ".join(SCHEMES)
        raise ValueError(f"unknown national ID scheme {code!r}; known: {known}") from None


def last4(number: str) -> str:
    """The last four digits, the only part of a number that may be shown or logged."""
    return number[-4:]
