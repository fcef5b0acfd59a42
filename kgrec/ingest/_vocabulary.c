/* kgrec.ingest._vocabulary: term interning and the N-Triples / N-Quads fast path, in C.
 *
 * Why C: reading an RDF dump is one pass of byte checks and hash look-ups; Python, even through Arrow's
 * kernels, did it at a third of the speed kgrec-ingest is asked for. kgrec/ingest/vocabulary.py holds
 * the same type in Python, used where this module was not compiled; the tests run both.
 *
 * Vocabulary() numbers term keys (UTF-8 bytes, see kgrec/ingest/terms.py) in order of first appearance.
 *   intern(offsets, data) -> ids       the keys data[offsets[k]:offsets[k + 1]] (int64 buffers; ids: a
 *                                      bytearray of int64)
 *   find(offsets, data) -> ids         the same without adding keys: -1 for a key not there
 *   parse_lines(data, blank_prefix, quads) -> (rows, others)
 *                                      one (s, p, o) row of ids per line of `data`; a line outside the
 *                                      canonical form below gets -1s and its (index, start, end) goes to
 *                                      `others`, for the full W3C grammar in Python (which also reports
 *                                      errors). Runs without the GIL: one Vocabulary per thread.
 *   terms() -> (offsets, data)         every key, for an Arrow large_string array
 * first_occurrences(rows) -> mask       1 where a row of three int64 is the first of its value (a hash set:
 *                                      a third of the time of numpy's sort-based grouping)
 *
 * The canonical form is what nearly every line of a dump looks like: `S P O .` or, in N-Quads,
 * `S P O G .`, one space between terms, an optional \r before the newline; blank node labels in ASCII;
 * literals with an optional @language or ^^<datatype>; escapes (\uXXXX, \UXXXXXXXX, and in literals
 * \t \b \n \r \f \" \' \\) are decoded, except in a datatype IRI; valid UTF-8 throughout.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)(address))
#endif

typedef struct {
    const char *start;
    Py_ssize_t length;
} Span;

typedef struct {
    uint64_t hash;
    int64_t id;  /* -1: empty */
} Slot;

typedef struct {
    PyObject_HEAD
    char *text;          /* every key, back to back */
    Py_ssize_t text_used, text_size;
    int64_t *offsets;    /* key k is text[offsets[k]:offsets[k + 1]] */
    Py_ssize_t count, offsets_size;
    Slot *slots;         /* open addressing, linear probing; the hash beside the id spares a cache miss */
    Py_ssize_t slot_mask;
} Vocabulary;

/* ------------------------------------------------------------------ hashing and interning */

static inline uint64_t hash_bytes(const char *p, Py_ssize_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        h = (h ^ word) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t tail = 0;
    memcpy(&tail, p, (size_t)n);
    h = (h ^ tail) * 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 29);
}

static int grow_slots(Vocabulary *self) {
    Py_ssize_t size = (self->slot_mask + 1) * 2;
    Slot *slots = PyMem_RawMalloc(size * sizeof(Slot));
    if (!slots) return -1;
    memset(slots, 0xFF, size * sizeof(Slot));
    for (Py_ssize_t old = 0; old <= self->slot_mask; old++) {
        if (self->slots[old].id < 0) continue;
        Py_ssize_t slot = (Py_ssize_t)(self->slots[old].hash & (uint64_t)(size - 1));
        while (slots[slot].id >= 0) slot = (slot + 1) & (size - 1);
        slots[slot] = self->slots[old];
    }
    PyMem_RawFree(self->slots);
    self->slots = slots;
    self->slot_mask = size - 1;
    return 0;
}

static int reserve(void **buffer, Py_ssize_t *size, Py_ssize_t needed, size_t item) {
    if (needed <= *size) return 0;
    Py_ssize_t grown = *size ? *size : 1024;
    while (grown < needed) grown *= 2;
    void *resized = PyMem_RawRealloc(*buffer, grown * item);
    if (!resized) return -1;
    *buffer = resized;
    *size = grown;
    return 0;
}

/* The slot that holds the key with hash h, or the empty slot where it would go. */
static Py_ssize_t find_slot(Vocabulary *self, const char *key, Py_ssize_t length, uint64_t h) {
    Py_ssize_t slot = (Py_ssize_t)(h & (uint64_t)self->slot_mask);
    for (int64_t id; (id = self->slots[slot].id) >= 0; slot = (slot + 1) & self->slot_mask) {
        if (self->slots[slot].hash == h && self->offsets[id + 1] - self->offsets[id] == length
            && memcmp(self->text + self->offsets[id], key, (size_t)length) == 0)
            break;
    }
    return slot;
}

/* The id of the key with hash h (a new one when unseen), or -1 when out of memory. Needs no GIL. */
static int64_t intern_hashed(Vocabulary *self, const char *key, Py_ssize_t length, uint64_t h) {
    Py_ssize_t slot = find_slot(self, key, length, h);
    if (self->slots[slot].id >= 0) return self->slots[slot].id;
    if (reserve((void **)&self->text, &self->text_size, self->text_used + length, 1) < 0
        || reserve((void **)&self->offsets, &self->offsets_size, self->count + 2, sizeof(int64_t)) < 0)
        return -1;
    memcpy(self->text + self->text_used, key, (size_t)length);
    self->text_used += length;
    int64_t id = self->count++;
    self->offsets[id + 1] = self->text_used;
    self->slots[slot] = (Slot){h, id};
    if (self->count * 2 > self->slot_mask + 1 && grow_slots(self) < 0) return -1;
    return id;
}

/* ------------------------------------------------------------------ the canonical line */

/* NOT_IRI, NOT_LITERAL, NON_ASCII and ESCAPE are or-ed over a whole IRI or literal: a loop without branches. */
enum { NOT_IRI = 1, BLANK_START = 2, BLANK_CHAR = 4, TAG_START = 8, TAG_CHAR = 16, NOT_LITERAL = 32, NON_ASCII = 64,
       ESCAPE = 128 };
static unsigned char classes[256];

static void fill_classes(void) {
    for (int c = 0; c < 0x80; c++)
        if (c <= 0x20 || strchr("<>\"{}|^`", c)) classes[c] |= NOT_IRI;
    for (int c = 0x80; c < 0x100; c++) classes[c] |= NON_ASCII;
    classes['\\'] |= ESCAPE;
    classes['\r'] |= NOT_LITERAL;
    for (int c = 0; c < 0x80; c++) {
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'), digit = c >= '0' && c <= '9';
        if (alpha || digit || c == '_') classes[c] |= BLANK_START | BLANK_CHAR;
        if (c == '.' || c == '-') classes[c] |= BLANK_CHAR;
        if (alpha) classes[c] |= TAG_START;
        if (alpha || digit) classes[c] |= TAG_CHAR;
    }
}

/* Length of the UTF-8 sequence at p (a byte >= 0x80), 0 when invalid (overlong, surrogate, > U+10FFFF). */
static inline int utf8_length(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    if (c < 0xC2 || c > 0xF4) return 0;
    int n = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (end - p < n) return 0;
    for (int k = 1; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) || (c == 0xF0 && p[1] < 0x90)
        || (c == 0xF4 && p[1] >= 0x90))
        return 0;
    return n;
}

/* Whether [p, end) is valid UTF-8. */
static int valid_utf8(const unsigned char *p, const unsigned char *end) {
    while (p < end) {
        if (*p < 0x80) {
            p++;
        } else {
            int n = utf8_length(p, end);
            if (!n) return 0;
            p += n;
        }
    }
    return 1;
}

/* The escape at p (p[0] == '\\'): its length, and its character in *code; 0 when it is none. IRIs take only
 * \uXXXX and \UXXXXXXXX; literals also \t \b \n \r \f \" \' \\. A surrogate or a code past U+10FFFF is none. */
static int escape_at(const unsigned char *p, const unsigned char *end, int iri, uint32_t *code) {
    if (end - p >= 2 && (p[1] == 'u' || p[1] == 'U')) {
        int digits = p[1] == 'u' ? 4 : 8;
        if (end - p < 2 + digits) return 0;
        uint32_t value = 0;
        for (int k = 2; k < 2 + digits; k++) {
            unsigned c = p[k];
            int digit = c >= '0' && c <= '9' ? (int)c - '0' : c >= 'a' && c <= 'f' ? (int)c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? (int)c - 'A' + 10 : -1;
            if (digit < 0) return 0;
            value = value * 16 + (uint32_t)digit;
        }
        if ((value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return 0;
        *code = value;
        return 2 + digits;
    }
    static const char from[] = "tbnrf\"'\\", to[] = "\t\b\n\r\f\"'\\";
    const char *hit = !iri && end - p >= 2 && p[1] ? strchr(from, p[1]) : NULL;
    if (!hit) return 0;
    *code = (unsigned char)to[hit - from];
    return 2;
}

/* Whether every backslash in [p, end) starts an escape. */
static int valid_escapes(const unsigned char *p, const unsigned char *end, int iri) {
    uint32_t code;
    for (p = memchr(p, '\\', (size_t)(end - p)); p; p = memchr(p, '\\', (size_t)(end - p))) {
        int n = escape_at(p, end, iri, &code);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

/* The classes of every byte in [p, end), or-ed. */
static inline unsigned char span_classes(const unsigned char *p, const unsigned char *end) {
    unsigned char seen = 0;
    for (; p < end; p++) seen |= classes[*p];
    return seen;
}

/* <IRI> at p: the position after '>', or NULL; *escaped says whether it holds escapes. */
static const unsigned char *scan_iri(const unsigned char *p, const unsigned char *end, int *escaped) {
    if (p >= end || *p != '<') return NULL;
    const unsigned char *close = memchr(p + 1, '>', (size_t)(end - p - 1));
    if (!close) return NULL;
    unsigned char seen = span_classes(p + 1, close);
    if ((seen & NOT_IRI) || ((seen & NON_ASCII) && !valid_utf8(p + 1, close))
        || ((seen & ESCAPE) && !valid_escapes(p + 1, close, 1)))
        return NULL;
    *escaped = (seen & ESCAPE) != 0;
    return close + 1;
}

/* _:label (ASCII) at p: the position after it, or NULL. */
static const unsigned char *scan_blank(const unsigned char *p, const unsigned char *end) {
    if (end - p < 3 || p[0] != '_' || p[1] != ':' || !(classes[p[2]] & BLANK_START)) return NULL;
    for (p += 3; p < end && (classes[*p] & BLANK_CHAR); p++) {}
    return p[-1] == '.' ? NULL : p;
}

static const unsigned char *scan_node(const unsigned char *p, const unsigned char *end, int *escaped) {
    *escaped = 0;
    return p < end && *p == '<' ? scan_iri(p, end, escaped) : scan_blank(p, end);
}

/* "value" with an optional @tag or ^^<datatype> (without escapes): the position after it, or NULL. *close is
 * the closing quote, *tag_at the '@' or NULL, *escaped whether the value holds escapes. */
static const unsigned char *scan_literal(const unsigned char *p, const unsigned char *end,
                                         const unsigned char **close, const unsigned char **tag_at, int *escaped) {
    const unsigned char *quote = p;
    for (;;) {  /* the first quote after an even number of backslashes */
        quote = memchr(quote + 1, '"', (size_t)(end - quote - 1));
        if (!quote) return NULL;
        const unsigned char *before = quote;
        while (before > p + 1 && before[-1] == '\\') before--;
        if ((quote - before) % 2 == 0) break;
    }
    unsigned char seen = span_classes(p + 1, quote);
    if ((seen & NOT_LITERAL) || ((seen & NON_ASCII) && !valid_utf8(p + 1, quote))
        || ((seen & ESCAPE) && !valid_escapes(p + 1, quote, 0)))
        return NULL;
    *escaped = (seen & ESCAPE) != 0;
    p = quote;
    *close = p++;
    *tag_at = NULL;
    if (p < end && *p == '@') {
        *tag_at = p++;
        if (p >= end || !(classes[*p] & TAG_START)) return NULL;
        while (p < end && (classes[*p] & TAG_START)) p++;
        while (p + 1 < end && *p == '-' && (classes[p[1]] & TAG_CHAR))
            for (p++; p < end && (classes[*p] & TAG_CHAR); p++) {}
    } else if (end - p >= 2 && p[0] == '^' && p[1] == '^') {
        int datatype_escaped;
        p = scan_iri(p + 2, end, &datatype_escaped);
        if (p && datatype_escaped) return NULL;  /* rare: left to the full grammar */
    }
    return p;
}

typedef struct {
    char *data;
    Py_ssize_t size;
} Scratch;

/* key = head, then [p, end) unescaped (or copied), then tail; in the scratch buffer. 0, or -1 when out of memory. */
static int scratch_key(Scratch *scratch, const char *head, Py_ssize_t head_length, const unsigned char *p,
                       const unsigned char *end, int escaped, int iri, const char *tail, Py_ssize_t tail_length,
                       Span *key) {
    /* an escape never grows: \uXXXX (6 bytes) is at most 3 in UTF-8, \UXXXXXXXX (10) at most 4 */
    if (reserve((void **)&scratch->data, &scratch->size, head_length + (end - p) + tail_length, 1) < 0) return -1;
    char *out = scratch->data;
    memcpy(out, head, (size_t)head_length);
    out += head_length;
    if (!escaped) {
        memcpy(out, p, (size_t)(end - p));
        out += end - p;
    }
    while (escaped && p < end) {
        uint32_t code;
        if (*p != '\\') {
            *out++ = (char)*p++;
            continue;
        }
        p += escape_at(p, end, iri, &code);  /* checked by valid_escapes */
        if (code < 0x80) {
            *out++ = (char)code;
        } else if (code < 0x800) {
            *out++ = (char)(0xC0 | (code >> 6));
            *out++ = (char)(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            *out++ = (char)(0xE0 | (code >> 12));
            *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
            *out++ = (char)(0x80 | (code & 0x3F));
        } else {
            *out++ = (char)(0xF0 | (code >> 18));
            *out++ = (char)(0x80 | ((code >> 12) & 0x3F));
            *out++ = (char)(0x80 | ((code >> 6) & 0x3F));
            *out++ = (char)(0x80 | (code & 0x3F));
        }
    }
    memcpy(out, tail, (size_t)tail_length);
    key->start = scratch->data;
    key->length = out + tail_length - scratch->data;
    return 0;
}

static const char XSD_STRING[] = "^^<http://www.w3.org/2001/XMLSchema#string>";

/* The key of the node term [p, q): an IRI without its brackets (unescaped), a blank node with the file's prefix. */
static int node_key(const unsigned char *p, const unsigned char *q, int escaped, Span prefix, Scratch *scratch,
                    Span *key) {
    if (*p == '_')
        return scratch_key(scratch, prefix.start, prefix.length, p + 2, q, 0, 0, "", 0, key);
    if (escaped) return scratch_key(scratch, "", 0, p + 1, q - 1, 1, 1, "", 0, key);
    key->start = (const char *)p + 1;
    key->length = q - p - 2;
    return 0;
}

/* The key of the literal [o, o_end): '"value"' (unescaped) then '@tag' in lower case, or '^^<datatype>' unless
 * xsd:string, as kgrec.ingest.terms.literal_key makes it. */
static int literal_key(const unsigned char *o, const unsigned char *o_end, const unsigned char *close,
                       const unsigned char *tag_at, int escaped, Scratch *scratch, Span *key) {
    Py_ssize_t suffix = o_end - close - 1;
    if (!tag_at && suffix == (Py_ssize_t)sizeof(XSD_STRING) - 1 && !memcmp(close + 1, XSD_STRING, (size_t)suffix))
        suffix = 0;  /* an xsd:string literal is a plain one */
    int upper_tag = 0;
    for (const unsigned char *c = tag_at; c && c < o_end; c++) upper_tag |= *c >= 'A' && *c <= 'Z';
    if (!escaped && !upper_tag) {
        key->start = (const char *)o;
        key->length = close + 1 + suffix - o;
        return 0;
    }
    if (scratch_key(scratch, "\"", 1, o + 1, close, escaped, 0, (const char *)close, suffix + 1, key) < 0) return -1;
    for (char *t = scratch->data + key->length - suffix; upper_tag && t < scratch->data + key->length; t++)
        if (*t >= 'A' && *t <= 'Z') *t += 'a' - 'A';
    return 0;
}

/* 1 and the three keys when [p, end) is a canonical statement; 0 when it is not; -1 on MemoryError. */
static int parse_line(const unsigned char *p, const unsigned char *end, int quads, Span prefix, Scratch scratch[3],
                      Span keys[3]) {
    if (end > p && end[-1] == '\r') end--;
    int s_escaped, p_escaped, o_escaped, g_escaped;
    const unsigned char *s = p, *s_end = scan_node(p, end, &s_escaped);
    if (!s_end || s_end >= end || *s_end != ' ') return 0;
    const unsigned char *pred = s_end + 1, *pred_end = scan_iri(pred, end, &p_escaped);
    if (!pred_end || pred_end >= end || *pred_end != ' ') return 0;
    const unsigned char *o = pred_end + 1, *o_end, *close = NULL, *tag_at = NULL;
    o_end = o < end && *o == '"' ? scan_literal(o, end, &close, &tag_at, &o_escaped) : scan_node(o, end, &o_escaped);
    if (!o_end) return 0;
    const unsigned char *rest = o_end;
    if (quads && end - rest >= 2 && rest[0] == ' ' && (rest[1] == '<' || rest[1] == '_')) {
        rest = scan_node(rest + 1, end, &g_escaped);
        if (!rest) return 0;
    }
    if (end - rest != 2 || rest[0] != ' ' || rest[1] != '.') return 0;

    if (node_key(s, s_end, s_escaped, prefix, &scratch[0], &keys[0]) < 0
        || node_key(pred, pred_end, p_escaped, prefix, &scratch[1], &keys[1]) < 0
        || (close ? literal_key(o, o_end, close, tag_at, o_escaped, &scratch[2], &keys[2])
                  : node_key(o, o_end, o_escaped, prefix, &scratch[2], &keys[2])) < 0)
        return -1;
    return 1;
}

/* ------------------------------------------------------------------ the Python type */

static int64_t *new_int64s(PyObject **out, Py_ssize_t count) {
    *out = PyByteArray_FromStringAndSize(NULL, count * (Py_ssize_t)sizeof(int64_t));
    return *out ? (int64_t *)PyByteArray_AS_STRING(*out) : NULL;
}

/* Keys are hashed BATCH at a time and their slots prefetched together, so that the table's cache misses
 * overlap instead of following one another: about a fifth less time on a 1M-triple dump. */
#define BATCH 16

/* The ids of the keys data[offsets[k]:offsets[k + 1]]: new keys are added, or (add = 0) get -1. */
static PyObject *key_ids(Vocabulary *self, PyObject *args, int add) {
    Py_buffer offsets, data;
    if (!PyArg_ParseTuple(args, "y*y*", &offsets, &data)) return NULL;
    PyObject *out = NULL;
    Py_ssize_t count = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    const int64_t *bounds = offsets.buf;
    int64_t *ids;
    if (count < 0 || offsets.len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "offsets must hold n + 1 int64 values");
        goto done;
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        if (bounds[k] < 0 || bounds[k] > bounds[k + 1] || bounds[k + 1] > data.len) {
            PyErr_SetString(PyExc_ValueError, "offsets out of range");
            goto done;
        }
    }
    if (!(ids = new_int64s(&out, count))) goto done;
    for (Py_ssize_t start = 0; start < count; start += BATCH) {  /* slots prefetched a batch at a time */
        Py_ssize_t stop = start + BATCH < count ? start + BATCH : count;
        uint64_t hashes[BATCH];
        for (Py_ssize_t k = start; k < stop; k++) {
            hashes[k - start] = hash_bytes((const char *)data.buf + bounds[k], bounds[k + 1] - bounds[k]);
            PREFETCH(&self->slots[hashes[k - start] & (uint64_t)self->slot_mask]);
        }
        for (Py_ssize_t k = start; k < stop; k++) {
            const char *key = (const char *)data.buf + bounds[k];
            Py_ssize_t length = bounds[k + 1] - bounds[k];
            uint64_t h = hashes[k - start];
            ids[k] = add ? intern_hashed(self, key, length, h) : self->slots[find_slot(self, key, length, h)].id;
            if (add && ids[k] < 0) {
                PyErr_NoMemory();
                Py_CLEAR(out);
                goto done;
            }
        }
    }
done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return out;
}

static PyObject *vocabulary_intern(Vocabulary *self, PyObject *args) { return key_ids(self, args, 1); }

static PyObject *vocabulary_find(Vocabulary *self, PyObject *args) { return key_ids(self, args, 0); }

typedef struct {
    int64_t *values;
    Py_ssize_t count, size;
} Int64s;

/* A parsed line waiting for its keys to be interned. */
typedef struct {
    const unsigned char *start, *end;
    int found;  /* parse_line's answer */
    Span keys[3];
    uint64_t hashes[3];
    Scratch scratch[3];  /* keys of this line that are not spans of the file: blank nodes, unescaped, lower case */
} Pending;

/* Fills rows (3 per line) and others; 0, or -1 when out of memory. Needs no GIL.
 * BATCH lines are parsed, their slots prefetched, and only then are their keys interned. */
static int parse_all(Vocabulary *self, const unsigned char *text, const unsigned char *end, int quads, Span prefix,
                     int64_t *rows, Int64s *others) {
    Pending batch[BATCH];
    memset(batch, 0, sizeof(batch));
    int status = 0;
    int64_t line = 0;
    for (const unsigned char *p = text; p < end && status == 0;) {
        int count = 0;
        for (; count < BATCH && p < end && status == 0; count++) {
            Pending *pending = &batch[count];
            const unsigned char *newline = memchr(p, '\n', (size_t)(end - p));
            pending->start = p;
            pending->end = newline ? newline : end;
            pending->found = parse_line(p, pending->end, quads, prefix, pending->scratch, pending->keys);
            for (int k = 0; k < 3 && pending->found > 0; k++) {
                pending->hashes[k] = hash_bytes(pending->keys[k].start, pending->keys[k].length);
                PREFETCH(&self->slots[pending->hashes[k] & (uint64_t)self->slot_mask]);
            }
            status = pending->found < 0 ? -1 : 0;
            p = pending->end + 1;
        }
        for (int b = 0; b < count && status == 0; b++, line++, rows += 3) {
            Pending *pending = &batch[b];
            for (int k = 0; k < 3 && pending->found > 0; k++)
                if ((rows[k] = intern_hashed(self, pending->keys[k].start, pending->keys[k].length,
                                             pending->hashes[k])) < 0)
                    status = -1;
            if (pending->found == 0) {
                rows[0] = rows[1] = rows[2] = -1;
                if (reserve((void **)&others->values, &others->size, others->count + 3, sizeof(int64_t)) < 0) {
                    status = -1;
                } else {
                    int64_t *other = others->values + others->count;
                    others->count += 3;
                    other[0] = line;
                    other[1] = pending->start - text;
                    other[2] = pending->end - text;
                }
            }
        }
    }
    for (int b = 0; b < BATCH; b++) {
        for (int k = 0; k < 3; k++) PyMem_RawFree(batch[b].scratch[k].data);
    }
    return status;
}

static PyObject *vocabulary_parse_lines(Vocabulary *self, PyObject *args) {
    Py_buffer data, prefix_buffer;
    int quads;
    if (!PyArg_ParseTuple(args, "y*y*p", &data, &prefix_buffer, &quads)) return NULL;
    const unsigned char *text = data.buf, *end = text + data.len;
    Py_ssize_t lines = 0;
    for (const unsigned char *q = text; q < end; lines++) {
        const unsigned char *newline = memchr(q, '\n', (size_t)(end - q));
        q = newline ? newline + 1 : end;
    }
    Span prefix = {prefix_buffer.buf, prefix_buffer.len};
    Int64s others = {NULL, 0, 0};
    PyObject *rows_out = NULL, *others_out = NULL, *result = NULL;
    int64_t *rows = new_int64s(&rows_out, lines * 3);
    int status = -1;
    if (rows) {
        Py_BEGIN_ALLOW_THREADS  /* each thread parses into its own Vocabulary: big files are read in parts */
        status = parse_all(self, text, end, quads, prefix, rows, &others);
        Py_END_ALLOW_THREADS
        if (status < 0) PyErr_NoMemory();
    }
    if (status == 0) {
        others_out = PyByteArray_FromStringAndSize((const char *)others.values,
                                                   others.count * (Py_ssize_t)sizeof(int64_t));
        if (others_out) result = PyTuple_Pack(2, rows_out, others_out);
    }
    Py_XDECREF(rows_out);
    Py_XDECREF(others_out);
    PyMem_RawFree(others.values);
    PyBuffer_Release(&data);
    PyBuffer_Release(&prefix_buffer);
    return result;
}

/* ------------------------------------------------------------------ duplicate rows */

static inline uint64_t hash_row(const int64_t *row) {
    uint64_t h = (uint64_t)row[0] * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 29) ^ (uint64_t)row[1]) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 31) ^ (uint64_t)row[2]) * 0x94D049BB133111EBull;
    return h ^ (h >> 32);
}

/* first_occurrences(rows) -> mask: a bytearray, 1 where a row (three int64) is the first of its value. */
static PyObject *first_occurrences(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer buffer;
    if (!PyArg_ParseTuple(args, "y*", &buffer)) return NULL;
    const int64_t *rows = buffer.buf;
    Py_ssize_t count = buffer.len / (Py_ssize_t)(3 * sizeof(int64_t)), size = 16;
    while (size < 2 * count) size *= 2;
    PyObject *out = PyByteArray_FromStringAndSize(NULL, count);
    int64_t *table = PyMem_RawMalloc(size * sizeof(int64_t));  /* open addressing: a row index or -1 */
    if (!out || !table) {
        if (out) PyErr_NoMemory();
        Py_CLEAR(out);
        goto done;
    }
    memset(table, 0xFF, size * sizeof(int64_t));
    char *first = PyByteArray_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < count; k++) {
        const int64_t *row = rows + 3 * k;
        Py_ssize_t slot = (Py_ssize_t)(hash_row(row) & (uint64_t)(size - 1));
        int64_t other;
        while ((other = table[slot]) >= 0 && memcmp(rows + 3 * other, row, 3 * sizeof(int64_t)) != 0)
            slot = (slot + 1) & (size - 1);
        first[k] = other < 0;
        if (other < 0) table[slot] = k;
    }
    Py_END_ALLOW_THREADS
done:
    PyMem_RawFree(table);
    PyBuffer_Release(&buffer);
    return out;
}

static PyObject *vocabulary_terms(Vocabulary *self, PyObject *Py_UNUSED(ignored)) {
    return Py_BuildValue("(y#y#)", (const char *)self->offsets, (self->count + 1) * (Py_ssize_t)sizeof(int64_t),
                         self->text, self->text_used);
}

static Py_ssize_t vocabulary_length(Vocabulary *self) { return self->count; }

static int vocabulary_init(Vocabulary *self, PyObject *args, PyObject *Py_UNUSED(kwargs)) {
    if (!PyArg_ParseTuple(args, ":Vocabulary")) return -1;
    if (self->slots) return 0;  /* __init__ called again: keep the keys */
    self->slots = PyMem_RawMalloc(1024 * sizeof(Slot));
    self->offsets = PyMem_RawMalloc(sizeof(int64_t));
    self->text = PyMem_RawMalloc(1);
    if (!self->slots || !self->offsets || !self->text) {
        PyErr_NoMemory();
        return -1;
    }
    memset(self->slots, 0xFF, 1024 * sizeof(Slot));
    self->slot_mask = 1023;
    self->offsets[0] = 0;
    self->offsets_size = self->text_size = 1;
    return 0;
}

static void vocabulary_dealloc(Vocabulary *self) {
    PyMem_RawFree(self->text);
    PyMem_RawFree(self->offsets);
    PyMem_RawFree(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef vocabulary_methods[] = {
    {"intern", (PyCFunction)vocabulary_intern, METH_VARARGS, "ids of the keys data[offsets[k]:offsets[k + 1]]"},
    {"find", (PyCFunction)vocabulary_find, METH_VARARGS, "ids of the keys, -1 for a key not there"},
    {"parse_lines", (PyCFunction)vocabulary_parse_lines, METH_VARARGS, "(rows, others) of N-Triples/N-Quads bytes"},
    {"terms", (PyCFunction)vocabulary_terms, METH_NOARGS, "(offsets, data) of every key"},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods vocabulary_sequence = {.sq_length = (lenfunc)vocabulary_length};

static PyTypeObject VocabularyType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "kgrec.ingest._vocabulary.Vocabulary",
    .tp_doc = "Term keys numbered in order of first appearance",
    .tp_basicsize = sizeof(Vocabulary),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)vocabulary_init,
    .tp_dealloc = (destructor)vocabulary_dealloc,
    .tp_methods = vocabulary_methods,
    .tp_as_sequence = &vocabulary_sequence,
};

static PyMethodDef module_functions[] = {
    {"first_occurrences", first_occurrences, METH_VARARGS, "1 where a row of three int64 is the first of its value"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_vocabulary", .m_doc = "Term interning, N-Triples parsing, duplicate rows",
    .m_size = -1, .m_methods = module_functions,
};

PyMODINIT_FUNC PyInit__vocabulary(void) {
    fill_classes();
    if (PyType_Ready(&VocabularyType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&VocabularyType);
    if (PyModule_AddObject(m, "Vocabulary", (PyObject *)&VocabularyType) < 0) {
        Py_DECREF(&VocabularyType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
