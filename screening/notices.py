"""Notices required on every disclosure of these records: one text for paper and every export."""

# 42 CFR 2.32(a)(1) (as amended in 2024): the notice that must accompany each disclosure.
REDISCLOSURE_NOTICE = (
    "This record which has been disclosed to you is protected by federal confidentiality rules "
    "(42 CFR part 2). These rules prohibit you from using or disclosing this record, or testimony that "
    "describes the information contained in this record, in any civil, criminal, administrative, or "
    "legislative proceedings by any Federal, State, or local authority, against the patient, unless "
    "authorized by the consent of the patient, except as provided at 42 CFR 2.12(c)(5) or as authorized "
    "by a court in accordance with 42 CFR 2.64 or 2.65. In addition, the Federal rules prohibit you from "
    "making any further disclosure of this record unless authorized by the written consent of the person "
    "to whom it pertains, or as otherwise permitted by 42 CFR part 2. A general authorization for the "
    "release of medical or other information is NOT sufficient for this purpose (see 42 CFR 2.31). The "
    "Federal rules restrict any use of the information to investigate or prosecute with regard to a crime "
    "any patient with a substance use disorder, except as provided at 42 CFR 2.12(c)(5) and 2.65."
)
