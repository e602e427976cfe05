"""Admin review pages (issue 4): history, one screening's review, dashboard (what-if replay: `views/replay.py`).
Every page needs `screening.review_history` (the admin role); the numbers come from `dashboard.py` and `charts.py`."""

from __future__ import annotations

import datetime as dt

from django.http import QueryDict
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from .. import answers, charts, rules, selectors
from .. import dashboard as dash
from ..filters import HistoryFilter, OverrideNoteFilter
from ..forms import DateRangeForm
from ..models import FLAG_LABELS, Screening
from . import clinician, record_view, requires

review_required = requires("screening.review_history")

PAGE_SIZES = (25, 50, 100)


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _page_window(number: int, last: int) -> list[int]:
    pages = {1, last, *range(max(number - 2, 1), min(number + 2, last) + 1)}
    return sorted(p for p in pages if p >= 1)


@review_required
@require_http_methods(["GET", "POST"])
def history(request):
    searching = request.method == "POST"
    page_param = (request.POST if searching else request.GET).get("page")
    data: QueryDict = request.GET.copy()
    data.pop("page", None)
    data.pop("q", None)  # a client name or record number never comes from the URL
    if searching:
        data["q"] = request.POST.get("q", "")
    per_page = _int(data.get("per_page"), PAGE_SIZES[0])
    per_page = per_page if per_page in PAGE_SIZES else PAGE_SIZES[0]

    base = Screening.objects.completed_or_signed().select_related("client", "clinician")
    filterset = HistoryFilter(data, queryset=base)
    page = selectors.HistoryPage(rows=[], count=0, capped=False, number=1, last=1)
    valid = filterset.is_valid()
    if valid:
        page = selectors.history_page(filterset.qs, page=_int(page_param, 1), per_page=per_page)
        for s in page.rows:
            s.flag_labels = [FLAG_LABELS[code] for code in s.flags]
        # Only the filters this page knows, as it read them (never a parameter copied verbatim), and the clients
        # the page shows: a list of names is a view of those clients (DESIGN.md §7).
        known = filterset.form.cleaned_data
        filters = {k: str(v) for k, v in known.items() if k != "q" and k in data and v not in (None, "", [])}
        details = {"filters": filters, "search": bool(data.get("q")), "page": page.number, "rows": len(page.rows)}
        details["clients"] = list(dict.fromkeys(str(s.client.public_id) for s in page.rows))
        record_view(request, object_type="history", details=details)
    query = data.copy()
    query.pop("q", None)
    return render(
        request,
        "screening/review_history.html",
        {
            "filter": filterset,
            "valid": valid,
            "rows": page.rows,
            "count": page.count,
            "count_cap": selectors.COUNT_CAP,
            "capped": page.capped,
            "number": page.number,
            "last": page.last,
            "pages": _page_window(page.number, page.last),
            "per_page": per_page,
            "page_sizes": PAGE_SIZES,
            "searching": searching,
            "search": data.get("q", ""),
            "query": query.urlencode(),
            "first_row": (page.number - 1) * per_page + 1,
            "last_row": (page.number - 1) * per_page + len(page.rows),
            "flag_labels": FLAG_LABELS,
            "sorts": _sort_links(query),
        },
    )


SORTABLE = {"date": "-date", "signed": "-signed", "recommended": "recommended", "final": "final"}
# What ascending and descending mean for each column, said beside the heading the page is sorted by: levels
# sort by intensity of care (filters.by_intensity), not by name.
SORT_NOTES = {
    "date": ("oldest first", "newest first"),
    "signed": ("oldest first", "newest first"),
    "recommended": ("IOP first", "Inpatient first"),
    "final": ("IOP first", "Inpatient first"),
}


def _sort_links(query: QueryDict) -> dict[str, dict[str, str]]:
    """For each sortable column: the query string that sorts by it, its aria-sort state and, for the column the
    page is sorted by, what that order is."""
    current = query.get("sort") or "-date"
    links = {}
    for key, first in SORTABLE.items():
        ascending, descending = SORT_NOTES[key]
        if current == key:
            target, state, note = f"-{key}", "ascending", ascending
        elif current == f"-{key}":
            target, state, note = key, "descending", descending
        else:
            target, state, note = first, "", ""
        q = query.copy()
        q["sort"] = target
        links[key] = {"query": q.urlencode(), "state": state, "note": note}
    return links


@review_required
def review_screening(request, public_id):
    related = clinician.with_carried_from(
        Screening.objects.select_related("client", "clinician", "decided_by", "signed_by", "risk_summary")
    )
    screening = get_object_or_404(related.prefetch_related("specialty_interests"), public_id=public_id)
    record_view(request, obj=screening)
    recommendation = screening.recommendation or {}
    return render(
        request,
        "screening/review_screening.html",
        {
            "s": screening,
            "sections": answers.display(screening.answers_snapshot),
            "recommendation": recommendation,
            "pathway": recommendation.get("pathway", []),
            "flags": [(code, rules.FLAG_TEXT.get(code, code)) for code in screening.flags],
            "domains": _domains(screening, recommendation),
            "chain": selectors.amendment_chain(screening),
            "events": list(selectors.object_events(screening)),
        },
    )


def _domains(screening: Screening, recommendation: dict) -> list[dict]:
    """The six-domain summary as the page shows it: each domain's title, rating and evidence, a rule that holds
    read as the sentence of its reason (the code is the reasons list's reference)."""
    summary = screening.domains
    if not summary:
        return []
    sentences = {r["code"]: r["text"] for r in recommendation.get("reasons", [])}
    return [
        {
            "title": row.title,
            "rating": summary[row.domain.value]["rating"],
            "label": summary[row.domain.value]["label"],
            "evidence": [sentences.get(e, e) for e in summary[row.domain.value]["evidence"]],
        }
        for row in rules.DOMAINS
    ]


def _default_range(today: dt.date) -> dict[str, str]:
    return {"start": (today - dt.timedelta(days=89)).isoformat(), "end": today.isoformat()}


def _presets(today: dt.date) -> list[tuple[str, dict[str, str]]]:
    first_this = today.replace(day=1)
    last_prev = first_this - dt.timedelta(days=1)
    return [
        ("Last month", {"start": last_prev.replace(day=1).isoformat(), "end": last_prev.isoformat()}),
        ("This month", {"start": first_this.isoformat(), "end": today.isoformat()}),
        ("Last 90 days", _default_range(today)),
        ("Last 12 months", {"start": (today - dt.timedelta(days=364)).isoformat(), "end": today.isoformat()}),
    ]


@review_required
def dashboard(request):
    today = timezone.localdate()
    form = DateRangeForm(request.GET if "start" in request.GET or "end" in request.GET else _default_range(today))
    context = {"form": form, "presets": _presets(today), "d": None}
    if form.is_valid():
        dates = form.date_range()
        in_range = Screening.objects.created_in(dates)
        d = dash.build(dates.start, dates.end, today=today)
        context.update(
            d=d,
            weekly=charts.stacked_bars(d.weeks, dash.LEVEL_LABELS, partial=d.partial),
            week_rows=[(week, counts, d.partial.get(week)) for week, counts in d.weeks],
            clinician_chart=charts.hbars([(r.label, r.percent or 0, _pct(r)) for r in d.by_clinician], maximum=100),
            reason_chart=charts.hbars([(label, n, f"{n:,}") for label, n in d.by_reason], fill=charts.PLUM),
            flag_chart=charts.hbars(
                [(label, n, f"{n:,} ({100 * n / d.total:.0f}%)" if d.total else "0") for label, n in d.flags],
                fill=charts.ORANGE,
            ),
            levels=dash.LEVEL_LABELS,
            median=_duration(d.median_to_signature),
            overall=_pct(d.overall),
            **_override_notes(request, in_range, d, dates),
        )
    return render(request, "screening/review_dashboard.html", context)


def _override_notes(request, in_range, d: dash.Dashboard, dates) -> dict:
    """The "recent override notes" list, filtered by reason and clinician; the notes shown are a view of those
    screenings (audited), though the list names no client."""
    notes_filter = OverrideNoteFilter(request.GET, queryset=dash.overrides(in_range), clinician_ids=d.clinician_ids)
    notes, matching, chosen = [], 0, {}
    if notes_filter.is_valid():
        chosen = {k: v for k, v in notes_filter.form.cleaned_data.items() if v}
        notes = dash.override_notes(notes_filter.qs)
        matching = d.overrides_matching(
            reason=chosen.get("reason", ""), clinician_id=d.clinician_ids.get(chosen.get("clinician"))
        )
        if notes:
            details = {"start": str(dates.start), "end": str(dates.end), "filters": chosen}
            record_view(
                request, object_type="dashboard", details={**details, "screenings": [str(s.public_id) for s in notes]}
            )
    # The same overrides in the history, where each row opens to its note.
    history = QueryDict(mutable=True)
    history.update({"overridden": "yes", "date_from": str(dates.start), "date_to": str(dates.end), **chosen})
    return {
        "notes_filter": notes_filter,
        "notes": notes,
        "notes_matching": matching,
        "notes_shown": dash.NOTES_SHOWN,
        "notes_history": history.urlencode(),
    }


def _pct(rate: dash.Rate) -> str:
    return "—" if rate.percent is None else f"{rate.percent:.1f}%"


def _duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "—"
    hours, minutes = divmod(round(value.total_seconds() / 60), 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes} min"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
