"""``signoff audit``: verify, seal, export and sign the tamper-evident audit trail."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from signoff.cli.common import OutputOption, ProjectOption, database, err, errors, fail, load_project, out, write_whole

if TYPE_CHECKING:
    from signoff.audit.transparency import CheckpointsReport
    from signoff.config.flows import Checkpoints, Project
    from signoff.database import Database

audit_app = typer.Typer(no_args_is_help=True)  # its help: GROUPS in cli/main.py


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option("--checkpoint", "-c", help="A signed checkpoint file to hold the chain to (repeatable)."),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The public key the checkpoints were signed with.")
    ] = None,
    checkpoints_url: Annotated[
        str | None,
        typer.Option(
            "--checkpoints",
            help="A folder or fsspec URL of signed Merkle checkpoints to hold the events to (default: the project's "
            "checkpoints.url, if set). Checks every signature, every root and the consistency of each with the next.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes that check spans of the chain side by side "
            "(default: one per CPU on a long chain, else 1).",
        ),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Recompute the hash chain; name the first event that was altered, deleted or reordered. With signed
    checkpoints, also show a chain that was rewritten and re-hashed since they were made."""
    from signoff import audit

    if checkpoint and public_key is None:
        fail("--checkpoint needs --public-key: the key the checkpoints were signed with, kept outside the database", 2)
    with errors():
        loaded = load_project(project)
        db = database(loaded)
        found = []
        if checkpoint:
            from signoff.audit import checkpoints

            assert public_key is not None
            key = checkpoints.load_public_key(public_key)
            documents = {path: checkpoints.read(path) for path in checkpoint}  # every file read before any check
            found = [(path, checkpoints.check(db, document, key)) for path, document in documents.items()]
        audit.seal(db, full=True)  # what waits only for want of a running sealer is not a stall
        report = audit.verify(db, jobs=jobs)
        merkle = _merkle_check(db, loaded, checkpoints_url, public_key)
    broken = [f"checkpoint {path} (seal {c.seq}, signed {c.made_at}): {c.why}" for path, c in found if not c.ok]
    if merkle is not None and merkle.problem is not None:
        broken.append(merkle.problem)
    if report.stall is not None:
        broken.insert(0, str(report.stall))
    if report.breach is not None:
        broken.insert(0, f"audit chain broken after {report.checked} good events: {report.breach}")
    if broken:
        fail("\n".join(broken).replace("[", "\\["))
    note = f"; {report.unsealed} recent events not sealed yet" if report.unsealed else ""
    held = (
        f"; it holds {len(found)} signed checkpoint(s), the latest at seal {max(c.seq for _, c in found)}"
        if found
        else ""
    )
    if merkle is not None:
        held += f"; {merkle.checked} Merkle checkpoint(s) hold, the latest of {merkle.largest} events"
    out.print(f"[green]Audit chain intact:[/] {report.checked} events verified{note}{held}.")


def _merkle_check(db: Database, loaded: Project, url: str | None, public_key: Path | None) -> CheckpointsReport | None:
    """The check of a folder of Merkle checkpoints (the one named, else the project's), or None if there is none."""
    from signoff.audit import checkpoints, transparency

    settings = loaded.checkpoints
    url = url or (settings.url if settings else None)
    if url is None:
        return None
    key = public_key or (Path(settings.public_key) if settings else None)
    if key is None:
        fail("--checkpoints needs --public-key (or a checkpoints section in the project file)", 2)
    origin = settings.origin if settings else None
    return transparency.verify_checkpoints(db, url, checkpoints.load_public_key(key), origin)


@audit_app.command("publish")
def audit_publish(project: ProjectOption = None) -> None:
    """Seal what is committed, add it to the Merkle tree, and write a signed checkpoint now, to the project's
    checkpoints.url (the worker writes them on its own every checkpoints.every_events events or every_seconds)."""
    from signoff import audit
    from signoff.audit import checkpoints, transparency

    with errors():
        loaded = load_project(project)
        settings = _settings(loaded)
        if settings.private_key is None:
            fail(f"{loaded.path}: checkpoints.private_key is not set: writing a checkpoint needs the private key", 2)
        key = checkpoints.load_private_key(Path(settings.private_key))
        db = database(loaded)
        audit.seal(db, full=True)
        written = transparency.publish(db, settings, key, force=True)
        size = transparency.grow(db)
    if written is None:
        out.print(f"The checkpoint of {size} events was already written; nothing new to sign.")
    else:
        out.print(f"Wrote the checkpoint of {written.size} events to {written.url}.")


def _settings(loaded: Project) -> Checkpoints:
    if loaded.checkpoints is None:
        fail(f"{loaded.path} has no checkpoints section (url, origin, public_key, private_key)", 2)
    return loaded.checkpoints


@audit_app.command("prove")
def audit_prove(
    event: Annotated[int | None, typer.Argument(help="The audit event's id.", min=1)] = None,
    size: Annotated[
        int | None, typer.Option(min=1, help="The checkpoint's tree size (default: the latest written).")
    ] = None,
    since: Annotated[
        int | None,
        typer.Option(
            "--consistency-from", min=1, help="Instead of an event: prove the checkpoint of this size is extended."
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The file to write (default: stdout).")] = None,
    project: ProjectOption = None,
) -> None:
    """An inclusion proof of an audit event in a signed Merkle checkpoint (or, with --consistency-from, a
    consistency proof between two checkpoints), as JSON that `signoff audit check-proof` verifies offline."""
    from signoff.audit import transparency

    if (event is None) == (since is None):
        fail("give an EVENT id, or --consistency-from SIZE", 2)
    with errors():
        db = database(load_project(project))
        if event is not None:
            document = transparency.prove(db, event, size)
        else:
            assert since is not None
            document = transparency.prove_consistency(db, since, size)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    with errors():
        write_whole(output, [text])
    out.print(f"Wrote the {document['kind']} proof to {output}.")


@audit_app.command("check-proof")
def audit_check_proof(
    proof: Annotated[Path, typer.Argument(help="A proof file from `signoff audit prove`.", dir_okay=False)],
    public_key: Annotated[Path, typer.Option("--public-key", help="The public key the checkpoints verify with.")],
    origin: Annotated[
        str | None, typer.Option(help="The log's origin the checkpoints must name (default: as they say).")
    ] = None,
) -> None:
    """Verify a proof with no database: the checkpoint's signature, then every element of the proof."""
    from signoff.audit import checkpoints, transparency
    from signoff.errors import InvalidInput, Problem

    with errors():
        key = checkpoints.load_public_key(public_key)
        try:
            document = json.loads(proof.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InvalidInput([Problem(str(proof), str(error))], "cannot read the proof") from None
        if not isinstance(document, dict):
            raise InvalidInput([Problem(str(proof), "must be a JSON object")], "not a proof")
        said = transparency.check_proof(document, key, origin)
    out.print(f"[green]Proof holds:[/] {said}.", highlight=False)


@audit_app.command("keygen")
def audit_keygen(
    private_key: Annotated[Path, typer.Option("--private-key", help="Where to write the private key (mode 600).")],
    public_key: Annotated[Path, typer.Option("--public-key", help="Where to write the public key.")],
) -> None:
    """Make an Ed25519 key pair for signing audit checkpoints. Keep the private key away from the database."""
    from signoff.audit import checkpoints

    with errors():
        made = checkpoints.write_keys(private_key, public_key)
    out.print(f"Wrote the private key to {private_key} and the public key to {public_key} (key id {made}).")


@audit_app.command("checkpoint")
def audit_checkpoint(
    private_key: Annotated[Path, typer.Option("--private-key", help="The Ed25519 private key to sign with.")],
    output: OutputOption = None,
    project: ProjectOption = None,
) -> None:
    """Seal what is committed and sign the chain's head: a file to keep where the database's administrators
    cannot write, for `signoff audit verify --checkpoint`."""
    from signoff.audit import checkpoints

    with errors():
        key = checkpoints.load_private_key(private_key)
        document = checkpoints.make(database(load_project(project)), key)
        text = json.dumps(document, indent=2) + "\n"
        if output is None:
            sys.stdout.write(text)
            return
        write_whole(output, [text])
    out.print(f"Signed seal {document['seq']} (key id {document['key_id']}) into {output}.")


@audit_app.command("seal")
def audit_seal(project: ProjectOption = None) -> None:
    """Seal every committed event now (a running server does this continuously)."""
    from signoff import audit

    with errors():
        sealed = audit.seal(database(load_project(project)), full=True)
    out.print(f"Sealed {sealed} events.")


@audit_app.command("export")
def audit_export(
    output: OutputOption = None,
    since: Annotated[str | None, typer.Option(help="First time included, ISO 8601 (UTC if no zone).")] = None,
    until: Annotated[str | None, typer.Option(help="First time excluded, ISO 8601 (UTC if no zone).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl (exact, for checking the chain) or csv.")] = "jsonl",
    project: ProjectOption = None,
) -> None:
    """Write the sealed audit events in chain order, each with its previous and own hash."""
    from signoff import audit

    if fmt not in audit.EXPORTS:
        fail(f"--format must be jsonl or csv, not {fmt!r}", 2)
    with errors():
        start, end = audit.time_range(since, until, ("--since", "--until"))
        db = database(load_project(project))
        lines = audit.EXPORTS[fmt][1](audit.sealed_events(db, start, end))
        count = 0
        if output is None:
            for count, line in enumerate(lines, 1):  # noqa: B007  # the count is the loop's result
                sys.stdout.write(line)
        else:
            count = write_whole(output, lines)
    events = count - (fmt == "csv")  # the csv header is not an event
    bounds = " ".join(f"{name} {value}" for name, value in (("since", since), ("until", until)) if value)
    if events == 0:  # said on stderr, so that it is seen when stdout is the export
        err.print(f"No sealed event {bounds or 'yet'}: nothing exported.", highlight=False)
    if output is not None:
        out.print(f"Wrote {events} sealed events to {output}.")
