"""Every user-visible string has a Chinese translation, with the same placeholders."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "webapp" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _searched(path: str) -> bool:
    """Every folder but hidden ones and node_modules: templates under ``_macros/`` hold strings too (Babel's
    default filter skips folders starting with ``_``)."""
    name = Path(path).name
    return not name.startswith(".") and name != "node_modules"


def _source_messages() -> set[str]:
    method_map = [("webapp/**.py", "python"), ("forms/**.py", "python"), ("webapp/**/templates/**.html", "jinja2"),
                  ("webapp/templates/**.txt", "jinja2")]
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map=method_map, keywords=KEYWORDS,
                                                  options_map={"webapp/**/templates/**.html": {"trimmed": "true"}},
                                                  directory_filter=_searched):
        found.update(message if isinstance(message, tuple) else (message,))
    return {m for m in found if m}


def test_every_message_is_translated_to_chinese():
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    translated: set[str] = set()
    for message in catalogue:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.id and all(strings) and "fuzzy" not in message.flags:
            translated.update(message.id if isinstance(message.id, tuple) else (message.id,))
    missing = sorted(_source_messages() - translated)
    assert not missing, "run `make extract-messages` and translate:\n" + "\n".join(missing)


def test_translations_keep_placeholders():
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    for message in catalogue:
        if not (message.id and message.string):
            continue
        source = message.id[-1] if isinstance(message.id, tuple) else message.id
        for translation in message.string if isinstance(message.string, tuple) else (message.string,):
            if translation:
                assert set(PLACEHOLDER.findall(source)) == set(PLACEHOLDER.findall(translation)), message.id
