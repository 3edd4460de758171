import pytest

from db.models import PhoneKind
from db.phones import InvalidPhone, normalise, try_normalise


@pytest.mark.parametrize(
    ("raw", "number", "kind"),
    [
        ("13800138000", "13800138000", PhoneKind.MOBILE),
        ("+86 138-0013-8000", "13800138000", PhoneKind.MOBILE),
        ("008613800138000", "13800138000", PhoneKind.MOBILE),
        ("8613800138000", "13800138000", PhoneKind.MOBILE),
        ("0762-3660360", "07623660360", PhoneKind.LANDLINE),
        ("(0762) 366 0360", "07623660360", PhoneKind.LANDLINE),
        ("3660360", "07623660360", PhoneKind.LANDLINE),  # local number without area code
        ("020-83331234", "02083331234", PhoneKind.LANDLINE),
        ("01062345678", "01062345678", PhoneKind.LANDLINE),
    ],
)
def test_normalise(raw, number, kind):
    phone = normalise(raw)
    assert (phone.number, phone.kind) == (number, kind)


@pytest.mark.parametrize("raw", ["", "anonymous", "<unknown>", "12345", "12800138000", "138001380001", "0762-123", "+1 415 555 0100",
                                 "13٨٠٠١٣٨٠٠٠", "0762３６６０３６０", "1380013800\x00"])  # digits of other scripts, NUL
def test_rejects(raw):
    with pytest.raises(InvalidPhone):
        normalise(raw)
    assert try_normalise(raw) is None


def test_other_area_code_for_local_numbers():
    assert normalise("3660360", area_code="0763").number == "07633660360"
