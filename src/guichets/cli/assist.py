"""``guichets assist``: the console where a person answers a captcha; guichets reads the slots."""

from __future__ import annotations

import asyncio
import getpass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from guichets import datadir
from guichets.assist.accounts import Accounts, new_person_id
from guichets.assist.attempt import CEILING, Limits
from guichets.assist.console import Console, is_loopback, proxy_networks, serve_console
from guichets.catalogue import load_catalogue
from guichets.cli.app import DbOption, HomeOption, app, console, fail, home_and_db
from guichets.clock import SystemClock
from guichets.model import PERSON_ID
from guichets.store import Store, StoreError
from guichets.tomlconfig import ConfigError

assist_app = typer.Typer(
    help="Assisted attempts: a person answers the captcha in a web console; guichets reads the "
    "slot page with the robot's reader and keeps the evidence (docs/human-assisted.md).",
    invoke_without_command=True,
)
app.add_typer(assist_app, name="assist")
account_app = typer.Typer(help="Accounts of the console (needed with --listen).")
assist_app.add_typer(account_app, name="account")


def accounts_path(home: Path) -> Path:
    return home / "assist" / "accounts.json"


def _local_person(home: Path) -> str:
    """The opaque id of the person using a loopback console, kept in HOME/assist/person."""
    path = home / "assist" / "person"
    if path.exists():
        person = path.read_text(encoding="utf-8").strip()
        if not PERSON_ID.fullmatch(person):  # a name typed there would reach the data
            raise fail(f"{path} does not hold an opaque person id (p-…): remove it")
        return person
    path.parent.mkdir(parents=True, exist_ok=True)
    person = new_person_id()
    path.write_text(person + "\n", encoding="utf-8")
    return person


@assist_app.callback()
def assist(
    ctx: typer.Context,
    catalogue: Annotated[
        Path | None,
        typer.Option(help="Catalogue of services [default: HOME/catalogue.toml]."),
    ] = None,
    listen: Annotated[
        str, typer.Option(help="Address to listen on; any but loopback requires accounts.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the console.")] = 8766,
    per_day: Annotated[
        int,
        typer.Option(
            min=1,
            max=CEILING,
            help=f"Attempts per person per démarche per day (ceiling {CEILING}).",
        ),
    ] = 3,
    cadence: Annotated[
        int, typer.Option(min=1, max=168, help="Hours between the attempts the schedule offers.")
    ] = 24,
    accounts: Annotated[
        bool, typer.Option("--accounts", help="Require an account even on loopback.")
    ] = False,
    behind_tls: Annotated[
        bool,
        typer.Option("--behind-tls", help="Mark the session cookie Secure (behind a TLS proxy)."),
    ] = False,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            metavar="ADDRESS",
            help="Address or network of your reverse proxy (repeatable, e.g. 127.0.0.1): failed "
            "logins coming through it are counted per X-Forwarded-For address, not all together.",
        ),
    ] = None,
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Serve the console (docs/human-assisted.md). On loopback, log in with the one-time link
    printed here; with --listen on another address, with an account (`guichets assist account
    add LOGIN`), behind a TLS proxy (README)."""
    if ctx.invoked_subcommand is not None:
        return
    folder, url = home_and_db(home, db)
    try:
        proxies = proxy_networks(trusted_proxy or [])
    except ValueError as exc:
        raise fail(f"--trusted-proxy: {exc}") from exc
    path = catalogue or datadir.catalogue(folder)
    try:
        services = [s for s in load_catalogue(path).services if s.enabled]
    except (ConfigError, OSError) as exc:
        raise fail(f"cannot read the catalogue {path}: {exc}") from exc
    loopback = is_loopback(listen)
    book = Accounts(accounts_path(folder)) if (accounts or not loopback) else None
    if book is not None and not len(book):
        raise fail(
            f"--listen {listen} needs accounts: create one with `guichets assist account add "
            f"LOGIN --home {folder}`"
        )
    person = None if book is not None else _local_person(folder)
    try:
        store = Store.open(url, home=folder)
    except StoreError as exc:
        raise fail(str(exc)) from exc

    def ready(address: str, served: Console) -> None:
        if person is not None:
            console.print(
                f"Console on {address}/ — open {address}/?jeton={served.login_token}",
                soft_wrap=True,  # one line: the link must survive a copy
                highlight=False,
            )
        else:
            console.print(f"Console on {address}/ (accounts required)")

    with store:
        try:
            asyncio.run(
                serve_console(
                    home=folder,
                    store=store,
                    clock=SystemClock(),
                    services=services,
                    limits=Limits(per_day=per_day),
                    host=listen,
                    port=port,
                    accounts=book,
                    person=person,
                    cadence=timedelta(hours=cadence),
                    secure_cookie=behind_tls,
                    ready=ready,
                    trusted_proxies=proxies,
                )
            )
        except KeyboardInterrupt:
            console.print("Console stopped.")


@account_app.command("add")
def account_add(
    login: Annotated[str, typer.Argument(help="The login (never shown in the data).")],
    home: HomeOption = None,
) -> None:
    """Create an account; the password is asked twice and stored as an Argon2id hash."""
    folder, _ = home_and_db(home, None)
    password = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Encore : ") != password:
        raise fail("the two passwords differ")
    try:
        account = Accounts(accounts_path(folder)).add(login, password)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(f"Account {account.login}: person id {account.person}")
