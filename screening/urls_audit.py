"""Auditor pages (issue 5): exports and the audit trail. Clients appear in URLs only by UUID."""

from django.urls import path

from .views import audit_export, auditor

urlpatterns = [
    path("exports/", auditor.export, name="export"),
    path("exports/fhir/questionnaire.json", auditor.fhir_questionnaire, name="fhir_questionnaire"),
    path("exports/data-dictionary/", auditor.data_dictionary, name="data_dictionary"),
    path("log/", auditor.audit_log, name="audit_log"),
    path("log/verify/", auditor.audit_verify, name="audit_verify"),
    path("log/export/", audit_export.audit_export, name="audit_export"),
    path("disclosures/", auditor.audit_disclosures, name="audit_disclosures"),
    path("disclosures/<uuid:public_id>/", auditor.audit_client_disclosures, name="audit_client_disclosures"),
]
