"""The `tierline` command line."""

from __future__ import annotations

import typer

from cli import admin, audit, cases, knowledge, mail, notices, policy, releases, stack, status

app = typer.Typer(
    help="Tierline: durable support cases with business-time SLAs.", no_args_is_help=True
)


app.add_typer(policy.app, name="policy", help="Check catalogs and show plans.")
app.add_typer(cases.app, name="cases")
app.add_typer(admin.orgs, name="orgs")
app.add_typer(admin.users, name="users")
app.add_typer(admin.tokens, name="tokens")
app.add_typer(releases.app, name="releases")
app.add_typer(notices.app, name="notices")
app.add_typer(audit.app, name="audit")
app.add_typer(mail.app, name="mail")
app.add_typer(knowledge.app, name="kb")
app.command("status")(status.status)


@app.callback()
def main() -> None:
    """Tierline: durable support cases with business-time SLAs."""


@app.command()
def run() -> None:
    """Run the embedded stack (Temporal dev server, worker, API) in the foreground."""
    stack.run_stack()


if __name__ == "__main__":
    app()
