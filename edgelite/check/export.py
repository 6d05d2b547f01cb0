"""``CheckReport`` as JUnit XML (one testcase per model × budget) and as markdown for a CI job summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from edgelite.check import gate
from edgelite.check.run import CheckReport

_ICON = {gate.PASS: "✅ pass", gate.FAIL: "❌ FAIL", gate.SKIP: "⚪ skip", gate.INFO: "🔄 updated"}


def junit_xml(report: CheckReport) -> str:
    """JUnit XML that GitLab, Jenkins and GitHub test reporters read: a failed budget is a ``<failure>``."""
    counts = report.counts()
    suites = ET.Element("testsuites", name="edgelite check", tests=str(len(report.rows())),
                        failures=str(counts[gate.FAIL]), errors="0", skipped=str(counts[gate.SKIP]))
    for m in report.models:
        suite = ET.SubElement(suites, "testsuite", name=f"edgelite.check.{m.name}", tests=str(len(m.budgets)),
                              failures=str(sum(r.status == gate.FAIL for r in m.budgets)), errors="0",
                              skipped=str(sum(r.status == gate.SKIP for r in m.budgets)))
        props = ET.SubElement(suite, "properties")
        for key, value in (("candidate", m.candidate), ("reference", m.reference), ("size_bytes", m.size_bytes)):
            ET.SubElement(props, "property", name=key, value=str(value))
        ET.SubElement(props, "property", name="latency_ms", value=str(m.latency.candidate_ms))
        for row in m.budgets:
            case = ET.SubElement(suite, "testcase", classname=f"edgelite.check.{m.name}", name=row.budget, time="0")
            rule = row.rule
            detail = f"{rule.description}: {rule.format_value(row.value)} (limit {rule.format_limit(row.limit)})"
            if row.status == gate.FAIL:
                ET.SubElement(case, "failure", message=row.message, type="BudgetExceeded").text = detail
            elif row.status == gate.SKIP:
                ET.SubElement(case, "skipped", message=row.message)
            else:
                ET.SubElement(case, "system-out").text = detail
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: CheckReport) -> str:
    """A GitHub-flavoured summary: verdict first, then one table per model (append to $GITHUB_STEP_SUMMARY)."""
    counts = report.counts()
    verdict = "✅ all budgets pass" if report.passed else f"❌ {counts[gate.FAIL]} budget(s) failed"
    lines = [f"## edgelite check: {verdict}", ""]
    for m in report.models:
        lat = m.latency
        acc = m.accuracy
        facts = [f"size {m.size_bytes:,} B", f"latency {lat.candidate_ms:.3f} ms ({lat.threads} thread(s))"]
        if lat.int8_over_float is not None:
            facts.append(f"{lat.int8_over_float:.2f}x float")
        if acc is not None and acc.candidate.top1 is not None and acc.reference.top1 is not None:
            facts.append(f"top-1 {acc.candidate.top1:.2f} % (float {acc.reference.top1:.2f} %)")
        if acc is not None and acc.task is not None and acc.task.kind not in ("classify", "regress"):
            facts.append(acc.task.headline_line())
        lines += [f"### {_cell(m.name)} {'✅' if m.passed else '❌'}", "", f"`{_cell(m.candidate)}`: "
                  + ", ".join(facts), "", "| budget | limit | value | baseline | status | note |",
                  "|---|---|---|---|---|---|"]
        for row in m.budgets:
            lines.append("| " + " | ".join(_cell(c) for c in (*row.cells(), _ICON[row.status], row.message)) + " |")
        lines.append("")
    for w in report.warnings:
        lines.append(f"> ⚠️ {_cell(w)}")
    if report.baseline_updated:
        lines.append(f"Baseline `{report.baseline}` updated.")
    return "\n".join(lines).rstrip() + "\n"
