"""The shape of a change in the audit trail: before, after and an RFC 6902 patch between them; no URL credentials."""

from __future__ import annotations

import jsonpatch

from signoff.audit.changes import change, without_credentials


def test_a_change_holds_both_documents_and_a_patch_from_one_to_the_other() -> None:
    before = {"grants": [{"role": "lead", "flow": "a"}], "active": True}
    after = {"grants": [{"role": "lead", "flow": "a"}, {"role": "owner", "flow": "b"}], "active": False}
    found = change(before, after)
    assert (found["before"], found["after"]) == (before, after)
    assert jsonpatch.apply_patch(before, found["diff"]) == after
    assert change(before, before)["diff"] == []
    assert change(None, {"name": "ada"})["diff"] == [{"op": "add", "path": "/name", "value": "ada"}]


def test_credentials_in_urls_are_taken_out_everywhere_in_a_document() -> None:
    document = {
        "model": {"url": "https://svc:s3cret@models.example/v2/models/m/infer", "token_env": "MODEL_TOKEN"},
        "alerts": [{"url": "http://hooks.example/x"}, "ops@example.com"],
    }
    found = without_credentials(document)
    assert found["model"]["url"] == "https://***@models.example/v2/models/m/infer"
    assert found["alerts"] == document["alerts"]
    assert "s3cret" not in str(found)
