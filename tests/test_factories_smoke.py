from screening.models import Screening
from tests.factories import make_screening


def test_make_screening_signed_uses_real_rules(db):
    s = make_screening(ciwa_ar=12)

    assert s.status == Screening.Status.SIGNED
    assert s.recommended_level == "inpatient"
    assert s.flags == ["detox_first"]
    assert s.final_level == "inpatient" and s.decision == "accepted"


def test_make_screening_override(db):
    s = make_screening(home_safe=False, final_level="inpatient", override_reason="clinical_judgment")

    assert s.recommended_level == "residential"
    assert s.is_overridden and s.override_reason == "clinical_judgment"
