"""Directory search (directory.search) against the real seed, on a real Whoosh index."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from whoosh import index as whoosh_index
from whoosh.index import LockError

from directory.importer import seed
from directory.models import Base, Location, Organization, Service, TaxonomyTerm
from directory.search import INDEX_NAME, DirectoryIndex, SearchQuery, document_for, fold
from directory.search import index as search_module

ALC = "Association ALC"
ACSE = "Dispositif National Ac.Sé (Ac.Sé Network)"
OFII = "French Office for Immigration and Integration"
PHDS = "People\u2019s Harmonious Development Society"
ADPARE = "ADPARE - Association for Developing Alternative Practices for Reintegration and Education"
MARK = re.compile(r"</?mark>")


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    """The seeded database (session and organisations) and an index of it, built once."""
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        seed(session)
        organisations = session.scalars(select(Organization)).all()
        path = tmp_path_factory.mktemp("index")
        index = DirectoryIndex(path)
        assert index.rebuild(organisations) == len(organisations) == 225
        yield session, organisations, index, path
        index.close()


@pytest.fixture(scope="module")
def index(directory):
    return directory[2]


@pytest.fixture(scope="module")
def by_id(directory):
    return {org.id: org for org in directory[1]}


def names(index, text, count=10, **filters):
    result = index.search(SearchQuery(text=text, per_page=count, **filters))
    return [hit.organisation["name"] for hit in result.hits]


def all_hits(index, text, **filters):
    """Every hit of a query, page by page."""
    hits, page = [], 1
    while True:
        result = index.search(SearchQuery(text=text, page=page, per_page=100, **filters))
        hits += result.hits
        if not result.hits:
            return hits, result
        page += 1


def terms_of(org):
    return {service.term.code for service in org.services if service.term is not None}


# --- the queries from the issue -------------------------------------------------------------


def test_alloggio_protetto_romania_puts_romanian_shelters_first(index, by_id):
    result = index.search(SearchQuery(text="alloggio protetto Romania", per_page=3))
    top = [hit.organisation["name"] for hit in result.hits]
    assert {"Asociatia FREE", "Pro Women\u2019s Dignity Commission"} <= set(top)
    for hit in result.hits:
        assert hit.organisation["country"] == "RO"
        assert "shelter" in terms_of(by_id[hit.organisation["id"]])


def test_rueckkehrhilfe_nigeria_finds_returns_to_nigeria_from_france(index):
    top = names(index, "Rückkehrhilfe Nigeria", 3)
    assert {ALC, OFII} <= set(top)


def test_a_country_finds_notes_naming_its_people(index):
    # OFII's notes only say "a Nigerian victim": stemming joins the two words
    hits = index.search(SearchQuery(text="Nigeria", per_page=50)).hits
    ofii = next(hit for hit in hits if hit.organisation["name"] == OFII)
    assert "<mark>Nigerian</mark>" in ofii.highlights["notes"]


def test_family_tracing_georgia_finds_the_georgian_ngo_and_the_tracing_ngos(index):
    top = names(index, "family tracing Georgia", 5)
    assert {PHDS, ADPARE, "Atina"} <= set(top)


def test_hebergement_paris_puts_french_shelters_first(index, by_id):
    result = index.search(SearchQuery(text="hebergement Paris", per_page=10))
    assert {hit.organisation["name"] for hit in result.hits[:2]} == {ALC, ACSE}
    # then Paris itself: the city is a hint, not a filter
    assert result.hits[2].organisation["city"] == "Paris"


# --- languages, accents, typos, compounds ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["shelter", "hébergement sécurisé", "hebergement securise", "HEBERGEMENT", "alloggio",
     "accoglienza protetta", "alojamiento protegido", "alojamiento", "Schutzunterkunft",
     "Unterkunft"],
)  # fmt: skip
def test_a_shelter_query_in_any_language_finds_the_shelters(index, by_id, text):
    hits, _ = all_hits(index, text)
    shelters = {org.id for org in by_id.values() if "shelter" in terms_of(org)}
    ids = [hit.organisation["id"] for hit in hits]
    assert shelters <= set(ids)
    # the shelters come first; only a name can rank higher ("Coalition of Shelter Organisations")
    last = max(ids.index(org_id) for org_id in shelters)
    for hit in hits[:last]:
        assert hit.organisation["id"] in shelters or "Shelter" in hit.organisation["name"]


def test_accents_do_not_matter(index):
    with_accents = index.search(SearchQuery(text="hébergement sécurisé", per_page=50))
    without = index.search(SearchQuery(text="hebergement securise", per_page=50))
    assert with_accents.total == without.total > 0
    assert [h.organisation["id"] for h in with_accents.hits] == [
        h.organisation["id"] for h in without.hits
    ]


def test_typos_are_tolerated(index, by_id):
    result = index.search(SearchQuery(text="shleter Itlay", per_page=5))
    for hit in result.hits:
        assert hit.organisation["country"] == "IT"
        assert "shelter" in terms_of(by_id[hit.organisation["id"]])
    assert "shelter" in names(index, "sheltr", 1)[0].lower()


def test_short_words_get_no_fuzzy_match(index):
    # four letters are too few to guess what was meant
    assert index.search(SearchQuery(text="shel")).total == 0


def test_a_german_compound_is_split_into_known_parts(index, by_id):
    hits = index.search(SearchQuery(text="Rückkehrhilfe", per_page=10)).hits
    assert hits
    assert all("return" in terms_of(by_id[h.organisation["id"]]) for h in hits)


def test_a_country_name_in_any_language_is_a_hint(index):
    for text in ("Roumanie", "Rumänien", "Rumania", "Romania"):
        result = index.search(SearchQuery(text=text, per_page=10))
        assert {hit.organisation["country"] for hit in result.hits} == {"RO"}, text


def test_a_city_hints_at_itself_and_its_country(index):
    result = index.search(SearchQuery(text="shelter Padua", per_page=5))
    assert result.hits[0].organisation["name"] == "Equality Cooperativa Sociale Onlus"
    assert {hit.organisation["country"] for hit in result.hits} == {"IT"}


def test_a_place_is_not_a_filter(index):
    countries = {hit.organisation["country"] for hit in all_hits(index, "shelter Romania")[0]}
    assert "RO" in countries and len(countries) > 5


def test_more_matched_words_rank_higher(index):
    hits = index.search(SearchQuery(text="legal assistance Italy", per_page=100)).hits
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert int(scores[0]) == 3 > int(scores[-1])


# --- acronyms, phrases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "first"),
    [("ADPARE", ADPARE), ("adpare", ADPARE), ("Ac.Sé", ACSE), ("acse", ACSE), ("OFII", OFII),
     ("PHDS", PHDS)],
)  # fmt: skip
def test_an_acronym_finds_its_organisation_first(index, text, first):
    result = index.search(SearchQuery(text=text, per_page=1))
    assert result.hits[0].organisation["name"] == first
    assert "<mark>" in result.hits[0].highlights.get("acronym", "")


def test_a_quoted_phrase_must_appear_as_a_phrase(index, by_id):
    hits, _ = all_hits(index, '"family tracing"')
    loose, _ = all_hits(index, "family tracing")
    assert 0 < len(hits) < len(loose)
    for hit in hits:
        org = by_id[hit.organisation["id"]]
        assert "family-tracing" in terms_of(org) or "family tracing" in org.description.lower()
    # matching services come first
    assert all(hit.services[0]["term"] == "family-tracing" for hit in hits)


def test_a_phrase_of_words_in_the_wrong_order_is_not_found(index):
    assert index.search(SearchQuery(text='"tracing family"')).total == 0


# --- facets, filters, pages -----------------------------------------------------------------


def test_facets_count_the_whole_result_set(index, by_id):
    hits, result = all_hits(index, "support")
    orgs = [by_id[hit.organisation["id"]] for hit in hits]
    assert len(orgs) == result.total > 20
    assert result.facets["country"] == dict(Counter(org.country for org in orgs))
    assert result.facets["kind"] == dict(Counter(org.kind for org in orgs))
    assert result.facets["service"] == dict(Counter(t for org in orgs for t in terms_of(org)))
    assert result.facets["language"] == dict(Counter(c for org in orgs for c in org.languages))


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"country": "IT"}, lambda org: org.country == "IT"),
        ({"kind": "ngo"}, lambda org: org.kind == "ngo"),
        ({"service": "shelter"}, lambda org: "shelter" in terms_of(org)),
        ({"language": "fr"}, lambda org: "fr" in org.languages),
        ({"country": "IT", "kind": "ngo"}, lambda org: org.country == "IT" and org.kind == "ngo"),
    ],
)
def test_filters_keep_only_matching_organisations(index, by_id, filters, check):
    unfiltered = all_hits(index, "victims")[0]
    expected = {h.organisation["id"] for h in unfiltered if check(by_id[h.organisation["id"]])}
    hits, result = all_hits(index, "victims", **filters)
    assert {hit.organisation["id"] for hit in hits} == expected
    assert result.total == len(expected) > 0


def test_a_filter_value_nobody_has_gives_nothing(index):
    assert index.search(SearchQuery(text="shelter", country="JP")).total == 0
    assert index.search(SearchQuery(text="", service="no-such-term")).total == 0


def test_an_empty_query_lists_the_filtered_organisations_by_name(index, by_id):
    hits, result = all_hits(index, "", country="FR")
    french = [org for org in by_id.values() if org.country == "FR"]
    assert result.total == len(hits) == len(french)
    assert [h.organisation["id"] for h in hits] == [
        org.id for org in sorted(french, key=lambda org: (fold(org.name), org.id))
    ]
    assert all(hit.score == 0 and hit.highlights == {} for hit in hits)


def test_an_empty_query_without_filters_lists_everything(index):
    result = index.search(SearchQuery())
    assert result.total == 225
    assert sum(result.facets["kind"].values()) == 225


@pytest.mark.parametrize("text", ["support", "", "shelter Italy", "victims of trafficking"])
def test_pages_partition_the_result_set(index, text):
    whole, _ = all_hits(index, text)
    pages, page = [], 1
    while hits := index.search(SearchQuery(text=text, page=page, per_page=7)).hits:
        pages += hits
        page += 1
    ids = [hit.organisation["id"] for hit in pages]
    assert ids == [hit.organisation["id"] for hit in whole]
    assert len(ids) == len(set(ids)) == index.search(SearchQuery(text=text)).total


def test_a_page_past_the_end_is_empty(index):
    result = index.search(SearchQuery(text="shelter", page=50))
    assert result.hits == [] and result.total > 0 and result.page == 50


# --- results --------------------------------------------------------------------------------


def test_hits_have_the_documented_shape(index):
    for hit in index.search(SearchQuery(text="legal assistance", per_page=50)).hits:
        assert set(hit.organisation) == {"id", "name", "acronym", "country", "city", "kind"}
        assert all(set(service) == {"id", "name", "term"} for service in hit.services)
        assert isinstance(hit.score, float)


def test_highlights_mark_the_matches_in_the_language_that_matched(index):
    hit = index.search(SearchQuery(text="alloggio protetto Romania", per_page=1)).hits[0]
    assert "<mark>alloggio</mark>" in hit.highlights["services"]
    assert "Accoglienza <mark>protetta</mark>" in hit.highlights["services"]


def test_highlights_never_carry_html_from_the_data(tmp_path, directory):
    session = directory[0]
    shelter = session.scalar(select(TaxonomyTerm).where(TaxonomyTerm.code == "shelter"))
    org = _organisation(
        "<script>alert(1)</script> Shelter & Co", notes='A "shelter" <b>for</b> women & girls.'
    )
    org.services = [_service(org, "shelter <img src=x>", shelter)]
    other = DirectoryIndex(tmp_path)
    other.rebuild([org])
    hit = other.search(SearchQuery(text="shelter")).hits[0]
    assert set(hit.highlights) == {"name", "services", "notes"}
    for snippet in hit.highlights.values():
        assert "<" not in MARK.sub("", snippet)
    assert hit.highlights["name"].startswith("&lt;script&gt;alert(1)&lt;/script&gt; <mark>")
    assert "&amp;" in hit.highlights["notes"]


def test_no_seed_highlight_carries_raw_html(index):
    for text in ("shelter", "victims trafficking", "legal Paris", "Ac.Sé"):
        for hit in index.search(SearchQuery(text=text, per_page=100)).hits:
            for snippet in hit.highlights.values():
                assert "<" not in MARK.sub("", snippet)


# --- safety ---------------------------------------------------------------------------------


def test_a_confidential_location_never_reaches_the_index(tmp_path, directory):
    session = directory[0]
    shelter = session.scalar(select(TaxonomyTerm).where(TaxonomyTerm.code == "shelter"))
    org = _organisation("Casa Sicura", notes="Runs a shelter.")
    org.services = [_service(org, "shelter", shelter)]
    org.locations = [
        Location(id="loc-secret", organization_id=org.id, name="Safe house",
                 address_1="Via Nascostissima 17", city="Borgosegreto", postal_code="00999",
                 country="IT", confidential=True),
        Location(id="loc-public", organization_id=org.id, name="Office",
                 address_1="Piazza Pubblica 1", city="Rome", country="IT", confidential=False),
    ]  # fmt: skip
    document = json.dumps(document_for(org), ensure_ascii=False)
    assert "Nascostissima" not in document and "Borgosegreto" not in document
    assert "00999" not in document
    other = DirectoryIndex(tmp_path)
    other.rebuild([org])
    assert other.search(SearchQuery(text="Nascostissima")).total == 0
    assert other.search(SearchQuery(text="Borgosegreto")).total == 0
    assert other.search(SearchQuery(text="Casa Sicura")).total == 1
    other.close()
    raw = b"".join(file.read_bytes() for file in tmp_path.iterdir() if file.is_file())
    assert b"nascostissima" not in raw.lower() and b"borgosegreto" not in raw.lower()


@pytest.mark.parametrize(
    "text",
    ['"', '"unpaired quote', 'a:b OR (c AND "d', "*?~^{}[]\\/", "NOT AND OR", "title:shelter",
     "\x00\x01\x1b[31m", "🏠🏠 shelter 🚀", "\ud800 lone surrogate", "x" * 5000,
     "shelter " * 20_000, "ab " * 40_000],
)  # fmt: skip
def test_any_text_gives_a_result(index, text):
    result = index.search(SearchQuery(text=text))
    assert result.total >= 0 and len(result.hits) <= 20


def test_only_stop_words_find_nothing_and_no_words_list_everything(index):
    assert index.search(SearchQuery(text="the of and le la der die")).total == 0
    assert index.search(SearchQuery(text="🏠 ... !!!")).total == 225


def test_only_the_first_words_of_a_long_query_count(index):
    assert names(index, "ADPARE " + "zzzz " * 40, 1) == [ADPARE]
    assert index.search(SearchQuery(text="zzzz " * 40 + "ADPARE")).total == 0


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(max_size=200)
    | st.lists(
        st.sampled_from(["shelter", "Nigeria", '"', "(", "ADPARE", "Ac.Sé", "*", "the", "der",
                         "Rückkehrhilfe", "é", "\u0301", "OR", ":", "-", "Paris", "XK", "🏠"]),
        max_size=12,
    ).map(" ".join),
    page=st.integers(1, 5),
    country=st.none() | st.sampled_from(["IT", "FR", "XK", "ZZ"]),
)  # fmt: skip
def test_arbitrary_text_never_raises(index, text, page, country):
    result = index.search(SearchQuery(text=text, page=page, per_page=10, country=country))
    assert len(result.hits) <= 10
    assert sum(result.facets["kind"].values()) == result.total
    for hit in result.hits:
        assert country is None or hit.organisation["country"] == country
        for snippet in hit.highlights.values():
            assert "<" not in MARK.sub("", snippet)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(categories=["L", "M"]), min_size=1, max_size=20))
def test_accent_folding_is_stable(word):
    assert fold(fold(word)) == fold(word)
    plain = "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))
    if plain.isascii():
        assert fold(word) == fold(plain)


# --- the index on disk ----------------------------------------------------------------------


def test_opening_an_existing_index_does_not_rebuild_it(directory):
    folder = directory[3]
    before = {file.name: file.stat().st_mtime_ns for file in folder.iterdir()}
    again = DirectoryIndex(folder)
    assert again.count() == 225
    assert names(again, "ADPARE", 1) == [ADPARE]
    again.close()
    assert {file.name: file.stat().st_mtime_ns for file in folder.iterdir()} == before


def test_updates_and_removals_are_seen_by_the_next_search(tmp_path, directory):
    organisations = directory[1][:30]
    first = DirectoryIndex(tmp_path)
    second = DirectoryIndex(tmp_path)  # another worker on the same index
    first.rebuild(organisations)
    assert second.count() == 30
    org = _organisation("Zebrafinch Refuge", notes="New partner.")
    first.update([org])
    assert names(second, "Zebrafinch", 5) == ["Zebrafinch Refuge"]
    org.name = "Kingfisher Refuge"
    first.update([org])
    assert second.search(SearchQuery(text="Zebrafinch")).total == 0
    assert names(second, "Kingfisher", 5) == ["Kingfisher Refuge"]
    first.remove([org.id, organisations[0].id])
    assert second.count() == 29
    assert second.search(SearchQuery(text="Kingfisher")).total == 0


def test_a_writer_waits_for_another_then_gives_up(tmp_path, monkeypatch):
    monkeypatch.setattr(search_module, "WRITER_TIMEOUT", 0.3)
    directory_index = DirectoryIndex(tmp_path)
    held = whoosh_index.open_dir(tmp_path, indexname=INDEX_NAME).writer()  # another writer
    try:
        with pytest.raises(LockError):
            directory_index.update([_organisation("Blocked")])
    finally:
        held.cancel()
    directory_index.update([_organisation("Unblocked")])
    assert directory_index.count() == 1


def test_rebuild_reports_progress(tmp_path, directory):
    calls = []
    DirectoryIndex(tmp_path).rebuild(directory[1], progress=lambda done, total: calls.append(done))
    assert calls[-1] == 225 and calls == sorted(calls)


# --- helpers --------------------------------------------------------------------------------


def _organisation(name, notes="", country="IT", city="Rome"):
    return Organization(
        id=f"test-{fold(name)[:20]}", name=name, alternate_name=None, description=notes,
        kind="ngo", country=country, city=city, target_groups=[], languages=[], services=[],
    )  # fmt: skip


def _service(org, name, term):
    return Service(
        id=f"{org.id}-{name[:10]}", organization_id=org.id, name=name, description=None,
        status="active", term=term, languages=[],
    )  # fmt: skip
