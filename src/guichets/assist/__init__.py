"""Assisted attempts: a person answers the captcha, guichets reads and keeps the proof.

``browser.py`` holds the person's browser (Playwright routing, the guards, the records),
``attempt.py`` one attempt from "start" to its last read, ``console.py`` the web console a person
uses (``guichets assist``), ``accounts.py`` its accounts. docs/human-assisted.md says what exists,
its limits and its ethics.
"""
