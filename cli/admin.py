"""`tierline orgs | users | tokens`: what admins set up through the API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from cli import http
from cli.http import JsonFlag, utc
from models.case import USER_ROLES

CONFIG_HELP = " (--api/--token before the command, or TIERLINE_API/TIERLINE_TOKEN)."
orgs = typer.Typer(
    help="Customer organisations" + CONFIG_HELP, callback=http.configure, no_args_is_help=True
)
users = typer.Typer(
    help="Users and their roles" + CONFIG_HELP, callback=http.configure, no_args_is_help=True
)
tokens = typer.Typer(
    help="Users' bearer tokens" + CONFIG_HELP, callback=http.configure, no_args_is_help=True
)


@orgs.command("create")
def create_organisation(
    ctx: typer.Context,
    organisation_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. acme")],
    name: Annotated[str, typer.Option(show_default=False)],
    plan: Annotated[str, typer.Option(help="catalog:plan, e.g. eu-software-001:gold")],
    addon: Annotated[
        list[str] | None, typer.Option(help="An add-on of the plan; repeat for several.")
    ] = None,
    contact_email: Annotated[
        list[str] | None, typer.Option(help="Notified about cases; repeat for several.")
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="URL notified about cases.")] = None,
    dedicated_engineer: Annotated[str | None, typer.Option(help="The engineer's e-mail.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register an organisation on a plan."""
    body = {
        "id": organisation_id,
        "name": name,
        "plan": plan,
        "addons": addon or [],
        "contact_emails": contact_email or [],
        "webhook_url": webhook,
        "dedicated_engineer": dedicated_engineer,
    }
    _print_organisation(
        http.call(ctx, "POST", "/organisations", body=body), as_json, "Created organisation"
    )


@orgs.command("show")
def show_organisation(
    ctx: typer.Context,
    organisation_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: JsonFlag = False,
) -> None:
    """An organisation and its plan."""
    _print_organisation(http.call(ctx, "GET", f"/organisations/{organisation_id}"), as_json)


@users.command("create")
def create_user(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    name: Annotated[str, typer.Option(show_default=False)],
    role: Annotated[str, typer.Option(help=", ".join(USER_ROLES) + ".", show_default=False)],
    org: Annotated[str | None, typer.Option(help="Customers: their organisation.")] = None,
    tier: Annotated[
        list[int] | None,
        typer.Option(
            min=1,
            max=3,
            help="Agents: a tier they work (at least one; they act on cases in these tiers "
            "only); repeat for several.",
        ),
    ] = None,
    email: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a user in one role."""
    body = {
        "id": user_id,
        "name": name,
        "role": role,
        "organisation": org,
        "tiers": tier or [],
        "email": email,
    }
    user = http.call(ctx, "POST", "/users", body=body)
    if as_json:
        http.print_json(user)
        return
    http.out().print(Text.assemble("Created user ", (user["id"], "bold"), f" ({_role(user)})"))


@users.command("list")
def list_users(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Every user."""
    rows = http.call(ctx, "GET", "/users")
    if as_json:
        http.print_json(rows)
        return
    table = Table()
    for column in ("id", "name", "role", "organisation", "tiers", "email"):
        table.add_column(column)
    for user in rows:
        table.add_row(
            user["id"],
            user["name"],
            user["role"],
            user["organisation"] or "—",
            ", ".join(str(tier) for tier in user["tiers"]) or "—",
            user["email"] or "—",
        )
    http.out().print(table)


@users.command("password")
def set_password(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(metavar="USER_ID")],
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            help="Read the password from stdin (its first line) instead of prompting.",
        ),
    ] = False,
) -> None:
    """Set or reset a user's console password; their console sessions end."""
    # Never an option or argument: those show in the shell's history and in `ps`.
    if password_stdin:
        lines = typer.get_text_stream("stdin").read().splitlines()
        password = lines[0] if lines else ""
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    http.call_raw(ctx, "PUT", f"/users/{user_id}/password", body={"password": password})
    http.out().print(
        Text.assemble("Password set for ", (user_id, "bold"), "; their console sessions have ended")
    )


@users.command("invite")
def invite_user(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(metavar="USER_ID")],
    as_json: JsonFlag = False,
) -> None:
    """E-mail a user a one-time link that sets their console password (admins; agents for
    customers)."""
    sent = http.call(ctx, "POST", f"/users/{user_id}/invite")
    if as_json:
        http.print_json(sent)
        return
    http.out().print(
        Text.assemble(
            "Invitation sent to ",
            (sent["user_id"], "bold"),
            f" <{sent['email']}>; the link works once, until {utc(sent['expires_at'])}",
        )
    )


@tokens.command("create")
def create_token(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(metavar="USER")],
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Issue a bearer token; it is printed this once and stored only as a digest."""
    created = http.call(ctx, "POST", f"/users/{user_id}/tokens", body={"label": label})
    if as_json:
        http.print_json(created)
        return
    # The token alone on stdout, so `$(tierline tokens create bob)` captures it.
    typer.echo(created["token"])
    http.err().print(
        f"token {created['id']} for {created['user_id']}: shown once, store it now", style="dim"
    )


@tokens.command("list")
def list_tokens(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(metavar="USER")],
    as_json: JsonFlag = False,
) -> None:
    """A user's tokens (never the tokens themselves)."""
    rows = http.call(ctx, "GET", f"/users/{user_id}/tokens")
    if as_json:
        http.print_json(rows)
        return
    table = Table()
    for column in ("id", "label", "created (UTC)", "revoked (UTC)"):
        table.add_column(column)
    for row in rows:
        revoked = Text(utc(row["revoked_at"]), style="red") if row["revoked_at"] else "—"
        table.add_row(str(row["id"]), row["label"] or "—", utc(row["created_at"]), revoked)
    http.out().print(table)


@tokens.command("revoke")
def revoke_token(
    ctx: typer.Context,
    token_id: Annotated[int, typer.Argument(metavar="TOKEN_ID")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a token; it stops working at once."""
    row = http.call(ctx, "DELETE", f"/tokens/{token_id}")
    if as_json:
        http.print_json(row)
        return
    http.out().print(f"Revoked token {row['id']} of {row['user_id']} at {utc(row['revoked_at'])}")


def _print_organisation(
    organisation: dict[str, Any], as_json: bool, heading: str = "Organisation"
) -> None:
    if as_json:
        http.print_json(organisation)
        return
    console = http.out()
    console.print(
        Text.assemble(
            f"{heading} ",
            (organisation["id"], "bold"),
            f"  {organisation['name']}",
        )
    )
    rows = [
        ("plan", organisation["plan"]),
        ("add-ons", ", ".join(organisation["addons"]) or "—"),
        ("contacts", ", ".join(organisation["contact_emails"]) or "—"),
        ("webhook", organisation["webhook_url"] or "—"),
        ("engineer", organisation["dedicated_engineer"] or "—"),
    ]
    for label, value in rows:
        console.print(Text.assemble((f"  {label:<10}", "dim"), value))


def _role(user: dict[str, Any]) -> str:
    if user["organisation"]:
        return f"{user['role']} of {user['organisation']}"
    if user["tiers"]:
        return f"{user['role']}, tiers {', '.join(str(t) for t in user['tiers'])}"
    return str(user["role"])
