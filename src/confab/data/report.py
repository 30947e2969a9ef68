"""The build report as a short markdown summary: every count of every stage, readable at a glance."""

from __future__ import annotations


def render_report(report: dict) -> str:
    """report.json as a short markdown summary with every count."""
    lines = ["# confab dataset build", ""]
    lines.append(f"- format: {report['format']}; inputs: " + ", ".join(i["path"] for i in report["inputs"]))
    records = report["read"]["records"]
    malformed = report["read"]["malformed"]
    lines.append(f"- records read: {sum(records.values()):,} ({', '.join(f'{k} {v:,}' for k, v in records.items())})")
    lines.append(f"- malformed input skipped: {malformed['total']:,}")
    for kind, count in malformed["by_kind"].items():
        lines.append(f"  - {kind}: {count:,}")
    for sample in malformed["samples"][:10]:
        lines.append(f"  - {sample['file']}:{sample['line']}: {sample['kind']}: {sample['detail']}")
    t = report["threads"]
    lines.append(
        f"- threads: {t.get('threads', 0):,}; messages: {t.get('messages', 0):,}; kept after cleaning: "
        f"{t.get('kept_messages', 0):,}; duplicate ids: {t.get('duplicate_id', 0):,}; "
        f"top-level comments without their submission: {t.get('roots_without_submission', 0):,}; "
        f"orphans (parent not in the input): {t.get('orphan_roots', 0):,}"
    )
    c = report["cleaning"]
    lines.append(f"- cleaning {'on' if c['enabled'] else 'off'}; dropped {c['dropped_total']:,} messages")
    for rule, count in c["dropped"].items():
        lines.append(f"  - {rule}: {count:,}")
    e = report["examples"]
    lines.append(
        f"- examples ({e['kind']}): {e['total']:,}: train {e['train']:,}, valid {e['valid']:,}, "
        f"test {e['test']:,} ({report['split']['mode']} split, seed {report['split']['seed']})"
    )
    p = report["persona"]
    lines.append(
        f"- personas ({p['setup']}, at most {p['max_sentences']} sentences): "
        f"{p['users_with_persona']:,} users; {p['train_share_with_persona']:.1%} of training examples "
        f"linked to one; {p['mean_persona_sentences']} sentences on average"
    )
    if "classifier" in p:
        lines.append(f"  - classifier: {p['classifier']}")
    if "tagging" in report:
        t = report["tagging"]
        lines.append(f"  - part-of-speech tagging: {t['sentences_asked']:,} sentences asked, "
                     f"{t['sentences_tagged']:,} tagged (the others remembered), {t['seconds']:.1f} s")  # fmt: skip
    lines.append(f"- dictionary: {report['dictionary']['size']:,} tokens")
    lines.append(f"- seconds: {report['seconds']}")
    return "\n".join(lines) + "\n"
