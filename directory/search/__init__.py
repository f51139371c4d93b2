"""Multilingual search over the partner directory, on a Whoosh index kept in a directory.

What is indexed (:mod:`.documents`). One document per organisation (:func:`document_for`): name
and acronym, its services as the organisation wrote them, country (code, and name in English,
French, Italian, Spanish and German), city, target groups and notes, plus the taxonomy terms of
its services. The taxonomy labels in the five languages are indexed once per term, in small
"term documents", and a label match stands for every organisation offering that term. Nothing
else goes in: no address, phone, e-mail or contact person is indexed or stored, so a
confidential (shelter) location can never leak through search.

Analysis (:mod:`.analysis`, :mod:`.schema`). Taxonomy labels sit in one field per language,
with that language's Snowball stemmer and stop words. Free text (names, notes, target groups,
service names as written) comes in any language, so each word is indexed once per distinct stem
over the five languages (a "polyglot" field), and a stop word of any of them is dropped. Accents
are folded after stemming, so "hébergement" and "hebergement" meet. Each word also yields the
pair it forms with the previous one: phrases are found as pairs of neighbouring words, without
positions.

Queries (:mod:`.query_text`, :mod:`.planner`) are built programmatically from the user's words,
never parsed as query syntax. Every word (or quoted phrase, or place name) is a clause. A clause
scores a document by its best matching field, plus a little of the others: field weight (name >
services > notes) x the word's idf over the whole directory (as in BM25F) x saturated term
frequency; fields are short, so there is no length normalisation. Documents matching more
clauses rank first, then by the sum of clause scores, then by name; a hit's score is the number
of clauses it matched plus a fraction for how well (:mod:`.ranking`). Stemming in five languages
already joins a country and its people ("Nigeria", "Nigerian": "nigeri" in Italian and
Spanish). A word also matches, with less weight: for a word the index does not know, its
spelling neighbours (one edit from 5 letters, two from 8, same first two letters); in German,
the parts of a compound ("Rückkehrhilfe" -> "Rückkehr") or the compounds ending or starting with
it ("Unterkunft" -> "Schutzunterkunft"). A country name in any of the five languages, or a city
of the directory, is a strong hint (a boost for organisations there; a city also hints at its
country), never a filter: "Rückkehrhilfe Nigeria" is about returns *to* Nigeria too. A text
without any word lists every organisation (within the filters) by name; words that are all stop
words find nothing.

Scores are computed here rather than by a Whoosh collector: sets of documents are Python ints
used as bitsets (:mod:`.postings`), read once per term and index generation (:mod:`.view`), so
the result set, its size and the facets are cheap (:mod:`.results`), and only the documents that
can reach the requested page are scored and highlighted (:mod:`.highlight`).

The public interface is re-exported here: import from ``directory.search``, not its modules.
"""

from directory.search.analysis import LANGUAGES, fold
from directory.search.documents import document_for
from directory.search.index import INDEX_NAME, DirectoryIndex, IndexBusy
from directory.search.query import Hit, SearchQuery, SearchResult

__all__ = [
    "INDEX_NAME",
    "LANGUAGES",
    "DirectoryIndex",
    "Hit",
    "IndexBusy",
    "SearchQuery",
    "SearchResult",
    "document_for",
    "fold",
]
