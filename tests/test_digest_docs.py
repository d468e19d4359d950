"""The operator's email checklist is written down (docs/reliability.md C12), and every digest/smtp/schedule/alerts
setting is documented with the sources.yaml example in docs/email-delivery.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from aggregator.config.settings import (
    AlertSettings,
    DigestSettings,
    ScheduleSettings,
    SmtpSettings,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "email-delivery.md"


@pytest.mark.parametrize("needle", ["SPF", "DKIM", "DMARC", "PTR", "5,000 messages a day", "0.3 %"])
def test_operator_checklist_names_what_mailbox_providers_require(needle):
    assert needle in DOC.read_text(encoding="utf-8")


def test_screenshot_referenced_by_the_doc_exists():
    assert "digest.png" in DOC.read_text(encoding="utf-8")
    assert (ROOT / "docs" / "digest.png").stat().st_size > 10_000


def test_the_documented_example_is_a_valid_config_covering_every_key(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    data = yaml.safe_load(example)
    (tmp_path / "dkim-private.pem").write_text("not read at load time")
    config = parse_config(data, str(tmp_path / "sources.yaml"))
    assert config.digest.day == "mon" and config.smtp.security == "starttls"
    for section, model in (("digest", DigestSettings), ("smtp", SmtpSettings), ("schedule", ScheduleSettings),
                           ("alerts", AlertSettings)):
        assert set(data[section]) == set(model.model_fields), section
