"""The teacher's pages (app_pages/teacher.py and app_pages/projector.py): the one gate both sit behind, and
how learners join — the app's address, the workshop code, a QR code of the join link and the warning when
the address only works on this computer. The projector view shows these and nothing else."""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import streamlit as st

from tutor import settings
from ui import plain
from ui.auth import is_teacher, teacher_configured, try_passphrase

TEACHER_PATH = "teacher"  # the pages' url_path in app.py
PROJECTOR_PATH = "projector"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def require_teacher_page(projector: bool = False) -> None:
    """Stop the page unless this session is a teacher's: the passphrase form (tries limited per session and
    per address, ui.auth.unlock_wait_s), or the OIDC accounts listed in TUTOR_TEACHERS. A new tab is a new
    session: it asks again."""
    if not teacher_configured():
        st.info(
            "The teacher page is turned off. To turn it on, start the app with a passphrase, e.g. "
            "`TUTOR_TEACHER_PASSPHRASE='...' ./scripts/run.sh`, or list teachers' login emails in `TUTOR_TEACHERS` "
            "when the app uses `st.login`."
        )
        st.stop()
    if not is_teacher() and not settings.teacher_passphrase():
        st.warning("This page is for the teachers listed in `TUTOR_TEACHERS`: log in with such an account.")
        st.stop()
    if not is_teacher():
        with st.form("teacher-unlock"):
            passphrase = st.text_input("Teacher passphrase", type="password", key="teacher-passphrase")
            if projector:  # (two calls: a button's label is Markdown, and tests/test_plain_text.py wants constants)
                submitted = st.form_submit_button("Open the projector view")
            else:
                submitted = st.form_submit_button("Open the teacher page")
            if submitted:
                try_passphrase(passphrase)
        st.stop()


def page_url() -> str | None:
    """The page's URL as this browser reaches it (None where Streamlit cannot tell, as in AppTest)."""
    return st.context.url or None


def app_address() -> str | None:
    """The app's address as this browser reaches it, without the teacher page's or the projector's own path:
    the join link learners open."""
    url = page_url()
    if not url:
        return None
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    for page in (TEACHER_PATH, PROJECTOR_PATH):
        path = path.removesuffix(f"/{page}")
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}"


def projector_url() -> str:
    """The projector view's link (relative when the address is unknown: from /teacher it is /projector)."""
    address = app_address()
    return f"{address}/{PROJECTOR_PATH}" if address else PROJECTOR_PATH


def show_loopback_warning(address: str | None) -> None:
    """Said wherever the join link is shown: an address on loopback reaches this computer only."""
    host = urlsplit(address).hostname if address else None
    if host in LOOPBACK_HOSTS:
        plain.show(
            "This address works on this computer only: give learners this machine's network address "
            "instead (the same port), and start the app with ADDRESS=0.0.0.0 if it listens on loopback.",
            tone="warning",
        )


def how_to_join() -> str:
    """What learners do once they have opened the address, in this deployment's sign-in mode."""
    if settings.workshop_code():
        return "type your name and the workshop code:"
    if settings.oidc_provider():
        return "and log in with your account."
    return "to start."


def qr_svg(link: str) -> bytes:
    """A QR code of ``link`` as SVG (segno), black on white with the quiet zone the standard asks for."""
    import segno

    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=10, border=4, dark="#000", light="#fff", xmldecl=False)
    return out.getvalue()


def qr_image(link: str, size_px: int = 320) -> plain.Html:
    """The QR code as an image whose text alternative names the link (the address is the browser's: escaped)."""
    data = base64.b64encode(qr_svg(link)).decode()
    alt = plain.text(f"QR code of the join link {link}")
    return plain.Html(
        f'<img src="data:image/svg+xml;base64,{data}" alt="{alt}" width="{size_px}" height="{size_px}" '
        'style="max-width:100%;height:auto">'
    )


def render_join_summary() -> None:
    """On the teacher page: the address and code in a line, the loopback warning, and the projector view's
    link (a new tab: projecting the teacher page would show the class's names and code)."""
    address = app_address()
    code = settings.workshop_code()
    where = plain.code(address) if address else "this app's address"
    if code:
        plain.show("Learners open ", where, " and sign in with the workshop code ", plain.strong(code), ".")
    else:
        plain.show("Learners open ", where, ".")
    show_loopback_warning(address)
    st.link_button(
        "Projector view: address, code and QR code (opens in a new tab)",
        projector_url(),
        icon=":material/open_in_new:",
        key="teacher-projector-link",
    )


def render_projector() -> None:
    """The projector view's body: where learners go, the code in large type and a QR code of the join
    link; nothing about any learner."""
    address = app_address()
    code = settings.workshop_code()
    where = plain.Html(
        f'<code style="font-size:2rem;overflow-wrap:anywhere">{plain.text(address)}</code>'
        if address
        else "this app's address"
    )
    text, picture = st.columns([3, 2], gap="large", vertical_alignment="center")
    with text:
        plain.show(plain.Html('<span style="font-size:2rem">Open</span>'))
        plain.show(where)
        plain.show(plain.Html(f'<span style="font-size:2rem">{plain.text(how_to_join())}</span>'))
        if code:
            plain.show(
                plain.Html(
                    '<span data-testid="workshop-code" style="font-size:6rem;font-weight:800;line-height:1.1;'
                    f'letter-spacing:0.05em;overflow-wrap:anywhere">{plain.text(code)}</span>'
                )
            )
            plain.show(
                "Spaces, dashes and capital letters in the code do not matter. Sign in with the same name next "
                "time to continue where you left off.",
                muted=True,
            )
    with picture:
        if address:
            plain.show_block(qr_image(address), where=picture)
            plain.show("Scan to open ", plain.code(address), muted=True, where=picture)
        else:
            plain.show(
                "No QR code: this browser did not tell the page its address. Open this view from the "
                "teacher page's link.",
                muted=True,
                where=picture,
            )
    show_loopback_warning(address)
