"""Streamlit-only pieces shared by the pages (the engine in tutor/ never imports Streamlit)."""
