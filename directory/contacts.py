"""Turning contact details as printed in a source into fields, without losing anything.

Each parser returns what it could parse and a list of flags for what it could not; the caller
keeps the printed text beside the fields, so a flagged value is never dropped. A flag's message
is stored in English and marked with ``N_``: the organisation page shows it translated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pycountry

from ponte.msgids import N_

EMAIL_CUT_SHORT = N_(
    "the domain ends in .%(tld)s, which does not exist; the address was probably cut short"
)

# Words that name a role, an office or a topic rather than a person, in the network's languages.
ROLE_MAILBOXES = frozenset(
    [
        "info",
        "contact",
        "contacts",
        "kontakt",
        "contatti",
        "contacto",
        "office",
        "mail",
        "email",
        "admin",
        "team",
        "hello",
        "help",
        "hotline",
        "sos",
        "case",
        "cases",
        "support",
        "enquiries",
        "inquiries",
        "general",
        "press",
        "media",
        "stampa",
        "post",
        "reception",
        "accueil",
        "secretariat",
        "secretary",
        "segreteria",
        "secretaria",
        "sekretariat",
        "secretariaat",
        "projects",
        "progetti",
        "projets",
        "proyectos",
        "projekte",
        "association",
        "associazione",
        "asociacion",
        "verein",
        "centre",
        "center",
        "centro",
        "centras",
        "zentrum",
        "ufficio",
        "oficina",
        "bureau",
        "direzione",
        "direction",
        "coordination",
        "coordinamento",
        "ngo",
        "onlus",
        "traite",
        "tratta",
        "trafficking",
        "antitratta",
    ]
)
# Two-letter top-level domains that are not ISO 3166 country codes but exist.
EXTRA_TWO_LETTER_TLDS = frozenset({"uk", "eu", "ac", "su"})
PHONE_NUMBER = re.compile(r"\+?\s?\(?\d[\d ()./-]{4,}\d")
PHONE_LABEL = re.compile(r"^(tel|tél|phone|mob|mobile|cell|hotline|fax)\b\.?:?\s*", re.IGNORECASE)
EMAIL = re.compile(r"[^@\s;,<>]+@[^@\s;,<>]+\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Flag:
    field: str
    code: str
    message: str
    value: str

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.field,
            "code": self.code,
            "message": self.message,
            "value": self.value,
        }


@dataclass(frozen=True)
class ParsedPhone:
    number: str
    type: str  # "voice" or "fax", as in HSDS phone.type


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse_phones(
    text: str, field: str, default_type: str = "voice"
) -> tuple[list[ParsedPhone], list[Flag]]:
    """Split "Tel: ...; Fax: ..." into numbers; a segment with several numbers stays text."""
    phones: list[ParsedPhone] = []
    flags: list[Flag] = []
    for segment in filter(None, (_clean(part) for part in re.split(r"[;\n]", text))):
        label = PHONE_LABEL.match(segment)
        kind = "fax" if label and label.group(1).lower() == "fax" else default_type
        rest = segment[label.end() :] if label else segment
        numbers = PHONE_NUMBER.findall(rest)
        if len(numbers) == 1 and len(_clean(numbers[0])) >= len(rest.strip()) - 2:
            phones.append(ParsedPhone(_clean(numbers[0]), kind))
        else:
            phones.append(ParsedPhone(rest.strip(), kind))
            problem = (
                N_("holds several numbers; kept as printed")
                if len(numbers) > 1
                else N_("is not a phone number; kept as printed")
            )
            flags.append(Flag(field, "phone_unparsed", problem, segment))
    return phones, flags


def _is_real_tld(domain: str) -> bool:
    tld = domain.rsplit(".", 1)[-1].lower()
    if len(tld) != 2:
        return tld.isalpha()
    return tld in EXTRA_TWO_LETTER_TLDS or pycountry.countries.get(alpha_2=tld.upper()) is not None


def _looks_personal(local: str, organisation_words: str) -> bool:
    """A mailbox named after a person ("michelle@...") rather than a role ("info@...")."""
    parts = [part for part in re.split(r"[._+-]", local.lower()) if part]
    if not parts or any(ch.isdigit() for ch in local):
        return False
    return not any(part in ROLE_MAILBOXES or part in organisation_words for part in parts)


def parse_email(
    text: str, field: str, organisation_words: str = ""
) -> tuple[str | None, list[Flag]]:
    """The first well-formed address; flags for extra, cut-short or personal ones."""
    found = EMAIL.findall(text)
    if not found:
        problem = N_("not an e-mail address; kept as printed")
        return None, [Flag(field, "email_unparsed", problem, text)]
    flags: list[Flag] = []
    if len(found) > 1:
        problem = N_("several addresses; the first is used")
        flags.append(Flag(field, "several_emails", problem, text))
    email = found[0]
    local, domain = email.rsplit("@", 1)
    if not _is_real_tld(domain):
        flags.append(
            Flag(
                field,
                "email_cut_short",
                EMAIL_CUT_SHORT % {"tld": domain.rsplit(".", 1)[-1]},
                email,
            )
        )
        return None, flags
    if _looks_personal(local, organisation_words):
        flags.append(
            Flag(
                field,
                "personal_mailbox",
                N_("looks like a person's mailbox; ask for a role address"),
                email,
            )
        )
    return email, flags


def parse_website(text: str, field: str) -> tuple[str | None, list[Flag]]:
    candidates = [word.rstrip(".,;") for word in text.split()]
    urls = [
        word if re.match(r"https?://", word) else f"https://{word}"
        for word in candidates
        if re.match(r"(https?://)?[\w-]+(\.[\w-]+)+(/\S*)?$", word)
    ]
    if not urls:
        problem = N_("not a web address; kept as printed")
        return None, [Flag(field, "website_unparsed", problem, text)]
    flags = []
    if len(candidates) > 1:
        problem = N_("several addresses; the first is used")
        flags.append(Flag(field, "several_websites", problem, text))
    return urls[0], flags


def _find_language(text: str) -> object | None:
    """By ISO 639 code first: pycountry's lookup("en") would find the language named "En"."""
    lowered = text.lower()
    found = (pycountry.languages.get(alpha_2=lowered) if len(lowered) == 2 else None) or (
        pycountry.languages.get(alpha_3=lowered) if len(lowered) == 3 else None
    )
    if found is not None:
        return found
    try:
        return pycountry.languages.lookup(text)
    except LookupError:
        return None


def parse_languages(names: list[str], field: str) -> tuple[list[str], list[Flag]]:
    """Language names or codes ("English", "fr") to ISO 639-1 codes."""
    codes: list[str] = []
    flags: list[Flag] = []
    for name in names:
        language = _find_language(name.strip())
        if language is None:
            problem = N_("unknown language; kept as printed")
            flags.append(Flag(field, "language_unknown", problem, name))
            continue
        code = getattr(language, "alpha_2", None) or language.alpha_3
        if code not in codes:
            codes.append(code)
    return codes, flags
