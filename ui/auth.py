"""Who is learning: a workshop learner (display name + workshop code), an OIDC user (st.login), or, with
neither configured (self-paced), one anonymous learner per browser. And who may see the teacher page.

Streamlit has no cookie API, so a learner's sign-in lives in the URL: ``?learner=<token>`` (a random
token, not their id). A reload or a bookmarked link keeps them signed in. In a workshop a fresh tab
without it asks again, and signing in again with the same name and code restores the same learner.
Self-paced, the browser also keeps the token (localStorage, ui/browser_id): a new tab on the same
browser is the same learner, another browser is another learner (a forgotten workshop code never mixes
two people's code).
"""

from __future__ import annotations

import hmac
import os
import time
from pathlib import Path

import streamlit as st
from streamlit.components.v1 import declare_component

from tutor import settings
from tutor.store.db import IdentitySource
from tutor.store.progress import LearnerInfo, claim_or_create_browser_learner, find_learner_by_token, sign_in_learner
from tutor.store.text import clean_display_name, name_key
from ui import plain
from ui.state import current_learner, get_database

TOKEN_PARAM = "learner"


def oidc_configured() -> bool:
    """st.login is usable when .streamlit/secrets.toml has an [auth] section."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all, or an unreadable one: no OIDC
        return False


def auth_mode() -> IdentitySource:
    if oidc_configured():
        return IdentitySource.OIDC
    if settings.workshop_code():
        return IdentitySource.WORKSHOP
    return IdentitySource.LOCAL


def resolve_learner() -> LearnerInfo | None:
    """The learner of this session, signing in silently where that is possible (local, OIDC, a token
    in the URL). None: the sign-in page is needed."""
    mode = auth_mode()
    learner = current_learner()
    if mode is IdentitySource.OIDC and learner is not None and not st.user.is_logged_in:
        sign_out()  # logged out (st.logout) in this session
        learner = None
    if learner is not None and learner.identity_source == mode and mode is not IdentitySource.LOCAL:
        if mode is IdentitySource.WORKSHOP and st.query_params.get(TOKEN_PARAM) != learner.token:
            st.query_params[TOKEN_PARAM] = learner.token  # keep it in the URL whatever page this is
        return learner
    if mode is IdentitySource.LOCAL:
        return resolve_browser_learner(learner)
    if mode is IdentitySource.OIDC:
        if not st.user.is_logged_in:
            return None
        key = str(st.user.get("email") or st.user.get("sub") or "")
        name = str(st.user.get("name") or key)
        return remember(sign_in_learner(get_database(), IdentitySource.OIDC, name, key.lower()))
    token = st.query_params.get(TOKEN_PARAM)
    if token:
        found = find_learner_by_token(get_database(), token)
        if found is not None and found.identity_source == mode and found.workshop_code == settings.workshop_code():
            # (a link from an earlier workshop, with another code, signs nobody in to this one)
            return remember(found)
    return None


BROWSER_KEY = "tutor-browser-id"


@st.cache_resource(show_spinner=False)
def _browser_id_component():
    return declare_component("tutor_browser_id", path=str(Path(__file__).parent / "browser_id"))


def browser_token(store: str = "") -> str | None:
    """The learner token this browser keeps ("" for none), storing ``store`` first if given; None until
    the browser has answered (its first render)."""
    with st.sidebar:
        return _browser_id_component()(store=store, key=BROWSER_KEY, default=None)


def resolve_browser_learner(learner: LearnerInfo | None) -> LearnerInfo | None:
    """Self-paced: this browser's own learner. From the URL's token, else from the one the browser keeps,
    else a new one (the first browser takes over the single learner of older versions). None for the
    moment before the browser has answered: the pages show a fresh start until then."""
    token = st.query_params.get(TOKEN_PARAM)
    if learner is not None and learner.identity_source == IdentitySource.LOCAL and token in (None, learner.token):
        browser_token(store=learner.token)
        if token is None:
            st.query_params[TOKEN_PARAM] = learner.token
        return learner
    database = get_database()
    found = find_learner_by_token(database, token) if token else None
    if found is not None and found.identity_source == IdentitySource.LOCAL:
        browser_token(store=found.token)
        return remember(found)
    held = browser_token()
    if held is None:
        return None
    found = find_learner_by_token(database, held) if held else None
    if found is None or found.identity_source != IdentitySource.LOCAL:
        found = claim_or_create_browser_learner(database)
    remember(found)
    st.rerun()  # once: the browser stores the token on the next render
    return found


def remember(learner: LearnerInfo) -> LearnerInfo:
    if current_learner() is None or current_learner().id != learner.id:
        st.session_state.pop("lessons", None)  # another learner: their own code and progress
    st.session_state["learner"] = learner
    if learner.identity_source in (IdentitySource.WORKSHOP, IdentitySource.LOCAL):
        st.query_params[TOKEN_PARAM] = learner.token
    return learner


def code_matches(given: str, expected: str) -> bool:
    """Only the letters and digits count, in any case: the code is read aloud or copied from a slide, so
    spaces, dashes and other punctuation do not matter ("keras 42" and "keras42" are "KERAS-42"). A code
    with no letter or digit at all is compared as typed."""

    def squeeze(code: str) -> bytes:
        kept = "".join(char for char in code.casefold() if char.isalnum())
        return (kept or code.strip()).encode()

    return hmac.compare_digest(squeeze(given), squeeze(expected))


def sign_in_with_code(name: str, code: str) -> tuple[LearnerInfo | None, str | None]:
    """(learner, None) or (None, a kind message saying what to fix)."""
    expected = settings.workshop_code() or ""
    if not clean_display_name(name, fallback=""):  # nothing visible: spaces or invisible characters
        return None, "Please type your name, so your teacher can see your progress."
    if not code_matches(code, expected):
        return None, (
            "That workshop code does not match. Check the code your teacher shared (on the board or in the "
            "chat) and try again; spaces, dashes and capital letters do not matter."
        )
    learner = sign_in_learner(get_database(), IdentitySource.WORKSHOP, name, name_key(name), expected)
    return remember(learner), None


def sign_out() -> None:
    st.session_state.pop("learner", None)
    st.session_state.pop("lessons", None)
    st.query_params.pop(TOKEN_PARAM, None)


def render_account(learner: LearnerInfo) -> None:
    """Sidebar: who is signed in, and how to leave."""
    mode = auth_mode()
    if mode is IdentitySource.LOCAL:
        return
    with st.sidebar:
        plain.show("Signed in as ", plain.strong(learner.display_name), muted=True)
        if mode is IdentitySource.OIDC:
            st.button("Log out", key="logout", on_click=st.logout)
        else:
            st.caption("Bookmark this page to come back signed in, or sign in again with the same name and code.")
            st.button("Sign out", key="sign-out", on_click=sign_out)


def teacher_configured() -> bool:
    return bool(settings.teacher_passphrase() or settings.teacher_identities())


def is_teacher() -> bool:
    """Unlocked with the passphrase in this session, or an OIDC user listed in TUTOR_TEACHERS (by email,
    subject, or a role/group claim)."""
    if st.session_state.get("teacher_unlocked"):
        return True
    allowed = settings.teacher_identities()
    if allowed and oidc_configured() and st.user.is_logged_in:
        claims = {str(st.user.get(key) or "").lower() for key in ("email", "sub")}
        for key in ("roles", "groups"):
            value = st.user.get(key) or []
            claims |= {str(v).lower() for v in (value if isinstance(value, list) else [value])}
        return bool(claims & allowed)
    return False


# Wrong passphrases allowed per window, per browser session and per address (a guesser opening new
# sessions is still one address); a right one is never held up once the window has passed.
UNLOCK_TRIES = {"session": 5, "address": 20}
UNLOCK_WINDOW_S = 300.0


@st.cache_resource(show_spinner=False)
def _failed_unlocks() -> dict[str, list[float]]:
    """Times of wrong passphrases, per key ("session:<id>", "address:<ip>"), for the whole server."""
    return {}


def _unlock_keys() -> list[tuple[str, int]]:
    session = st.session_state.setdefault("unlock_session", os.urandom(8).hex())
    keys = [(f"session:{session}", UNLOCK_TRIES["session"])]
    address = getattr(st.context, "ip_address", None)  # None where Streamlit cannot tell (tests)
    if address:
        keys.append((f"address:{address}", UNLOCK_TRIES["address"]))
    return keys


def unlock_wait_s() -> int:
    """Seconds until another passphrase try is allowed here (0: now)."""
    now = time.time()
    failures = _failed_unlocks()
    wait = 0.0
    for key, allowed in _unlock_keys():
        recent = [t for t in failures.get(key, []) if now - t < UNLOCK_WINDOW_S]
        failures[key] = recent
        if len(recent) >= allowed:
            wait = max(wait, recent[-allowed] + UNLOCK_WINDOW_S - now)
    return int(wait + 0.999)


def unlock_teacher(passphrase: str) -> bool:
    expected = settings.teacher_passphrase()
    if expected and hmac.compare_digest(passphrase.encode(), expected.encode()):
        st.session_state["teacher_unlocked"] = True
        return True
    failures = _failed_unlocks()
    for key, _ in _unlock_keys():
        failures.setdefault(key, []).append(time.time())
    return False


def oidc_provider() -> str | None:
    return settings.oidc_provider()


def require_teacher(form_key: str) -> None:
    """Stop the page unless this session is a teacher's: the passphrase form where there is one."""
    if not teacher_configured():
        st.info("This page is for teachers, and the teacher pages are turned off: start the app with "
                "`TUTOR_TEACHER_PASSPHRASE='...'` (or `TUTOR_TEACHERS` with `st.login`).")  # fmt: skip
        st.stop()
    if is_teacher():
        return
    if not settings.teacher_passphrase():
        st.warning("This page is for the teachers listed in `TUTOR_TEACHERS`: log in with such an account.")
        st.stop()
    with st.form(form_key):
        passphrase = st.text_input("Teacher passphrase", type="password", key=f"{form_key}-passphrase")
        if st.form_submit_button("Open"):
            try_passphrase(passphrase)
    st.stop()


def try_passphrase(passphrase: str) -> None:
    """A passphrase submitted at a teacher's gate (the studio's, the teacher page's, the projector's): refused
    while tries must wait (unlock_wait_s), else the page drawn again unlocked, or told it is not right."""
    wait = unlock_wait_s()
    if wait:
        st.error(f"Too many tries. Wait {wait} s before the next one.")
    elif unlock_teacher(passphrase):
        st.rerun()
    else:
        st.error("That passphrase is not right.")
