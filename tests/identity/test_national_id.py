import random
from datetime import date, timedelta

import pytest

from identity.national_id import SCHEMES, InvalidNationalId, get_scheme, last4

# Known-good numbers, from python-stdnum's own documentation where the scheme has one.
VALID = {
    "za": "7503305044089",  # born 1975-03-30
    "ee": "36805280109",  # born 1968-05-28
    "in": "234123412346",
    "ke": "12345678",
    "ng": "12345678901",
}


def invalid(code, raw):
    with pytest.raises(InvalidNationalId) as info:
        get_scheme(code).validate(raw)
    return str(info.value)


@pytest.mark.parametrize("code", sorted(VALID))
def test_it_accepts_a_valid_number(code):
    assert get_scheme(code).validate(VALID[code]) == VALID[code]


@pytest.mark.parametrize(
    "code, raw",
    [
        ("za", "7503305044088"),  # check digit
        ("za", "750330504408"),  # length
        ("za", "75033050440899"),
        ("za", "7513305044089"),  # month 13
        ("za", "7502305044089"),  # 30 February
        ("za", "7503305044289"),  # citizenship digit is 0 or 1
        ("ee", "36805280108"),  # check digit
        ("ee", "3680528010"),  # length
        ("ee", "36813280109"),  # month 13
        ("ee", "96805280109"),  # no century digit 9
        ("in", "234123412347"),  # check digit
        ("in", "23412341234"),  # length
        ("in", "123412341234"),  # stdnum: never starts with 0 or 1
        ("in", "222222222222"),  # stdnum: never a palindrome
        ("ke", "123456"),
        ("ke", "123456789"),
        ("ng", "1234567890"),
        ("ng", "123456789012"),
    ],
)
def test_it_refuses_an_invalid_number(code, raw):
    invalid(code, raw)


@pytest.mark.parametrize("code", sorted(VALID))
@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n[:-1] + "a",  # a letter
        lambda n: n[:3] + "." + n[3:],  # a dot is not a separator
        lambda n: n[:-1] + "١",  # Arabic-Indic one: isdigit() but not ASCII
        lambda n: n[:-1] + "１",  # fullwidth one
        lambda n: n + "\n",
        lambda n: "\t" + n,
        lambda n: n[:3] + "\u2013" + n[3:],  # an en dash; stdnum would accept it
    ],
)
def test_it_refuses_other_characters(code, mangle):
    invalid(code, mangle(VALID[code]))


@pytest.mark.parametrize("code", sorted(VALID))
@pytest.mark.parametrize("raw", [None, 7503305044089, b"7503305044089", "", "   ", "- -"])
def test_it_refuses_empty_or_non_strings(code, raw):
    invalid(code, raw)


@pytest.mark.parametrize("code", sorted(VALID))
def test_it_canonicalizes_spaces_and_dashes(code):
    number = VALID[code]
    spaced = f" {number[:3]} {number[3:6]}-{number[6:]}- "
    assert get_scheme(code).canonicalize(spaced) == number
    assert get_scheme(code).validate(spaced) == number


def test_it_canonicalizes_nothing_else():
    assert get_scheme("za").canonicalize("a.b\t1") == "a.b\t1"


@pytest.mark.parametrize("code", sorted(VALID))
def test_it_keeps_the_number_out_of_error_messages(code):
    number = VALID[code]
    raws = [number + "0", number[:-1] + "x", f"{number[:4]} {number[4:]}9"]
    if code in ("za", "ee", "in"):
        raws.append(number[:-1] + str((int(number[-1]) + 1) % 10))  # a wrong check digit
    for raw in raws:
        message = invalid(code, raw)
        assert number[:-1] not in message
        assert raw not in message
        assert get_scheme(code).label in message


def test_it_names_a_wrong_check_digit():
    assert "check digit" in invalid("za", "7503305044088")


def test_it_reads_the_birth_date_where_the_scheme_has_one():
    assert get_scheme("za").birth_date("750330 5044089") == date(1975, 3, 30)
    assert get_scheme("ee").birth_date("36805280109") == date(1968, 5, 28)
    assert get_scheme("in").birth_date(VALID["in"]) is None
    assert get_scheme("ke").birth_date(VALID["ke"]) is None
    assert get_scheme("ng").birth_date(VALID["ng"]) is None


def test_it_matches_a_za_birth_date_without_the_century():
    za = get_scheme("za")
    assert za.matches_birth_date("7503305044089", date(1975, 3, 30))
    # Only YYMMDD is encoded: someone born in 1875 would carry the same digits.
    assert za.matches_birth_date("7503305044089", date(1875, 3, 30))
    assert not za.matches_birth_date("7503305044089", date(1975, 3, 31))
    assert not za.matches_birth_date("7503305044089", date(1976, 3, 30))


def test_it_matches_an_ee_birth_date_with_the_century():
    ee = get_scheme("ee")
    assert ee.matches_birth_date("36805280109", date(1968, 5, 28))
    assert not ee.matches_birth_date("36805280109", date(2068, 5, 28))
    assert not ee.matches_birth_date("36805280109", date(1968, 5, 29))


@pytest.mark.parametrize("code", ["in", "ke", "ng"])
def test_it_matches_any_birth_date_where_none_is_encoded(code):
    assert get_scheme(code).matches_birth_date(VALID[code], date(2001, 1, 1))


def test_it_refuses_to_match_an_invalid_number():
    with pytest.raises(InvalidNationalId):
        get_scheme("za").matches_birth_date("7503305044088", date(1975, 3, 30))


@pytest.mark.parametrize("code", sorted(SCHEMES))
def test_it_generates_valid_numbers(code):
    scheme = get_scheme(code)
    rng = random.Random(2024)
    for _ in range(200):
        born = date(1900, 1, 1) + timedelta(days=rng.randrange(45_000))
        number = scheme.generate(rng, born)
        assert scheme.validate(number) == number
        assert scheme.matches_birth_date(number, born)


@pytest.mark.parametrize("code", sorted(SCHEMES))
def test_it_generates_the_same_numbers_from_the_same_seed(code):
    scheme = get_scheme(code)
    draws = [
        [scheme.generate(rng, date(1990, 6, 15)) for _ in range(20)]
        for rng in (random.Random(7), random.Random(7))
    ]
    assert draws[0] == draws[1]
    assert len(set(draws[0])) > 10  # random, not constant (ee has 2000 numbers a day)


def test_it_generates_ee_numbers_with_the_century():
    ee = get_scheme("ee")
    rng = random.Random(1)
    assert ee.generate(rng, date(1999, 12, 31))[0] in "34"
    assert ee.generate(rng, date(2000, 1, 1))[0] in "56"
    assert ee.birth_date(ee.generate(rng, date(2000, 2, 29))) == date(2000, 2, 29)


def test_it_lists_the_known_schemes_for_an_unknown_code():
    with pytest.raises(ValueError, match="za, ee, in, ke, ng"):
        get_scheme("fr")


def test_it_gives_every_scheme_its_code_and_a_label():
    assert sorted(SCHEMES) == ["ee", "in", "ke", "ng", "za"]
    for code, scheme in SCHEMES.items():
        assert scheme.code == code
        assert scheme.label


def test_it_keeps_the_last_four_digits():
    assert last4("7503305044089") == "4089"
