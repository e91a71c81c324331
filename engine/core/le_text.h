/*
 * le_text: UTF-8 decoding and encoding, and Python's idea of whitespace --
 * the byte-level text helpers the tokenizer, the dataset readers and the
 * task metrics share.
 *
 * le_utf8_next decodes by structure only (a lead byte announcing 1-4 bytes,
 * then that many continuation bytes), as llama.cpp's unicode_cpt_from_utf8
 * does; each caller decides what an invalid byte stands for (U+FFFD in the
 * tokenizer, the byte itself when counting characters, a refusal in the
 * readers), and callers that must refuse overlong forms, surrogates and
 * values above U+10FFFF ask le_utf8_wellformed as well.
 */
#ifndef LE_TEXT_H
#define LE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The sequence at s[0..n) (n >= 1): its length (1..4), the code point in
 * *cp; 0 when s does not start a complete sequence (a continuation byte or
 * 0xF8..0xFF first, too few bytes left, a missing continuation byte).
 * Stops at the first byte that is not a continuation, so a NUL-terminated
 * string may pass n = its remaining length or more. */
size_t le_utf8_next(const char *s, size_t n, uint32_t *cp);
/* 1 when a len-byte sequence decoding to cp is well-formed UTF-8: the
 * shortest form, not a surrogate, at most U+10FFFF. */
int le_utf8_wellformed(uint32_t cp, size_t len);
/* Encodes cp (<= U+10FFFF) into buf[0..4); returns the byte count. */
int le_utf8_encode(uint32_t cp, char *buf);

/* Python's str.isspace() (and re's \s for str patterns): the ASCII
 * whitespace, 0x1C-0x1F, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000. */
int le_py_space(uint32_t cp);
/* The byte length of the well-formed whitespace character at s[0..n)
 * (n >= 1), or 0. */
size_t le_py_space_len(const char *s, size_t n);
/* One byte of UTF-8 text that is whitespace by itself (the ASCII part of
 * the set; what strip() removes byte by byte from ASCII-padded text). */
static inline int le_py_space_byte(unsigned char c) { return c < 0x80 && le_py_space(c); }

#endif
