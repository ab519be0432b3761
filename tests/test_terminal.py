from tutor.sandbox.terminal import render_terminal


def test_carriage_returns_overwrite_like_a_terminal() -> None:
    raw = "Epoch 1/2\n\r 1/10 [==....]\r10/10 [======] - loss: 0.1\nEpoch 2/2\n"
    assert render_terminal(raw) == "Epoch 1/2\n10/10 [======] - loss: 0.1\nEpoch 2/2\n"


def test_shorter_rewrite_keeps_the_tail_as_a_terminal_does() -> None:
    assert render_terminal("abcdef\rxy") == "xycdef"


def test_colours_and_controls_are_stripped() -> None:
    raw = "\x1b[1m\x1b[32mok\x1b[0m \x1b]0;title\x07done\x07\x00 x\bY"
    assert render_terminal(raw) == "ok done Y"


def test_html_is_kept_as_text() -> None:
    assert render_terminal("<b>bold</b>") == "<b>bold</b>"


def test_caps_lines_and_width() -> None:
    text = render_terminal("\n".join(str(i) for i in range(5000)), max_lines=100)
    lines = text.splitlines()
    assert lines[0] == "[4900 earlier lines not shown]"
    assert lines[-1] == "4999"
    assert len(render_terminal("x" * 10000, max_line_chars=50)) == 50
