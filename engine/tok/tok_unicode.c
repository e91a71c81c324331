/*
 * tok_unicode: the little Unicode the tokenizers need, with llama.cpp's
 * exact behaviour (src/unicode.cpp): UTF-8 decoding that turns every bad
 * byte into U+FFFD, the general-category class of a code point (table
 * generated into tok_unicode_data.h, identical to llama.cpp's Unicode 15.1
 * classes), its White_Space set, and GPT-2's bytes_to_unicode map.
 */
#include "tok_int.h"

#include "tok_unicode_data.h" /* tok_unicode_range_start/_class, _ascii_class */

unsigned tok_cpt_flags(uint32_t cp) {
    if (cp < 128)
        return tok_unicode_ascii_class[cp] | ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20 ? TOK_U_WS : 0);
    if (cp >= 0x110000)
        return TOK_U_UNDEF;
    /* White_Space as llama.cpp lists it (PropList.txt). */
    unsigned ws = 0;
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
        (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000)
        ws = TOK_U_WS;
    /* Last range whose start <= cp. */
    size_t lo = 0, hi = TOK_UNICODE_N_RANGES;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tok_unicode_range_start[mid] <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return tok_unicode_range_class[lo] | ws;
}

/* One code point at s[0..len) (len >= 1); *used = bytes consumed. Returns
 * 0xFFFD with *used = 1 for anything llama.cpp rejects. llama.cpp accepts
 * overlong forms and surrogates, so we do too. */
static uint32_t decode_one(const unsigned char *s, size_t len, size_t *used) {
    uint32_t cp;
    size_t n = le_utf8_next((const char *)s, len, &cp);
    if (n == 0 || cp > 0x10FFFF) { /* llama.cpp would throw later on the latter; we do not */
        *used = 1;
        return 0xFFFD;
    }
    *used = n;
    return cp;
}

uint32_t tok_utf8_next(const char *s, size_t len, size_t *used) {
    return decode_one((const unsigned char *)s, len, used);
}

size_t tok_utf8_decode(const char *s, size_t len, uint32_t *cps) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0, i = 0;
    while (i < len) {
        size_t used;
        cps[n++] = decode_one(p + i, len - i, &used);
        i += used;
    }
    return n;
}

/* GPT-2: printable Latin-1 bytes stand for themselves; the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) map, in byte order, to U+0100, U+0101, ... */
static int byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_byte_to_cpt(uint8_t b) {
    if (byte_is_printable(b))
        return b;
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++)
        n += !byte_is_printable(c);
    return 256 + n;
}

int tok_cpt_to_byte(uint32_t cp) {
    if (cp < 256)
        return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t n = 0;
    for (unsigned c = 0; c < 256; c++) {
        if (!byte_is_printable(c)) {
            if (n == cp - 256)
                return (int)c;
            n++;
        }
    }
    return -1;
}
