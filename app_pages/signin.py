"""Sign in: a display name and the workshop code, or the deployment's login (st.login)."""

import streamlit as st

from tutor.store.db import IdentitySource
from ui.auth import auth_mode, oidc_provider, sign_in_with_code

st.title("Welcome to the Keras NameError workshop")
if auth_mode() is IdentitySource.OIDC:
    st.markdown("Log in to start; your progress is kept under your account.")
    st.button(":material/login: Log in", type="primary", key="login", on_click=st.login, args=(oidc_provider(),))
    st.stop()

st.markdown(
    "Type your name and the workshop code your teacher gave you. There is no password: to come back later "
    "(another tab, another day), sign in again with **the same name** and the code, and you continue where you "
    "left off."
)
with st.form("sign-in"):
    name = st.text_input("Your name", key="sign-in-name", max_chars=80, placeholder="e.g. Ada Lovelace")
    code = st.text_input("Workshop code", key="sign-in-code", max_chars=120)
    submitted = st.form_submit_button(":material/login: Start", type="primary")
if submitted:
    learner, problem = sign_in_with_code(name, code)
    if problem:
        st.error(problem)
    else:
        st.session_state["welcome"] = learner.returning
        st.rerun()
