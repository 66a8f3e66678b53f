"""The daily email's HTML body, rendered by nbconvert from the executed report notebook.

One source for the report and the email: the email is the report notebook's cells
tagged ``email`` (no code, no scripts), through the ``email`` nbconvert template, with its
CSS inlined into every element by css-inline (mail apps drop ``<style>``) and its PNG
outputs taken out as inline CID images. The report and the email therefore cannot
disagree. Cells tagged ``email-only`` are left out of report.html (render.render_html).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from algotrading.report.decision_views import SUBMISSION_MARK
from algotrading.report.render import TEMPLATES_DIR

EMAIL_TAG = "email"
ANCHOR = re.compile(r'<a class="anchor-link" href="[^"]*">[^<]*</a>')


@dataclass(frozen=True)
class EmailHtml:
    html: str
    images: dict[str, bytes] = field(default_factory=dict)  # Content-ID (no brackets) -> PNG


def render_email(
    notebook: Path,
    subject: str,
    session: str,
    byline: str,
    footer: list[str],
    submission: str | None = None,
) -> EmailHtml:
    """The email body of the executed report ``notebook``: its ``email`` cells, in order."""
    # local: nbconvert and nbformat cost about 1.5 s to import; only the email step needs them
    import css_inline  # local, as the rest: the daily run's email step is its only user
    import nbformat  # local: see above (1.5 s to import)
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExtractOutputPreprocessor

    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells = [c for c in nb.cells if EMAIL_TAG in c.get("metadata", {}).get("tags", [])]
    exporter = HTMLExporter(
        template_name="email",
        extra_template_basedirs=[str(TEMPLATES_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(ExtractOutputPreprocessor(extract_output_types={"image/png"}), enabled=True)
    email = {"subject": subject, "session": session, "byline": byline, "footer": footer}
    body, resources = exporter.from_notebook_node(nb, resources={"email": email, "unique_key": "chart"})
    # what the submission did: "4 submitted", or "NOT submitted: ..." and why
    sent = f"<p><b>Submission:</b> {html.escape(submission)}.</p>" if submission else ""
    body = ANCHOR.sub("", body.replace(SUBMISSION_MARK, sent))  # headings' link anchors mean nothing in a mail
    images = {name: data for name, data in resources.get("outputs", {}).items() if name.endswith(".png")}
    return EmailHtml(css_inline.inline(body), images)
