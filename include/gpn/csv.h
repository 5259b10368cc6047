/*
 * csv.h - a streaming CSV/TSV reader with exact error positions.
 *
 * Reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF, quoted
 * newlines) with ',', ';' or '\t' delimiters, auto-detected from the header
 * line when delim is 0. The first record is the header. Every record must
 * have as many fields as the header: otherwise gpn_csv_next() fails with
 * "FILE:LINE: expected N fields, found M". Line numbers are 1-based physical
 * lines of the record's first character, so they match what an editor shows.
 *
 * Ownership: the reader owns the field strings; they are valid until the next
 * gpn_csv_next() or gpn_csv_close(). Gzip-compressed files (.gz) are read
 * through zlib transparently.
 */
#ifndef GPN_CSV_H
#define GPN_CSV_H

#include <stddef.h>

#include "gpn/err.h"

struct gpn_csv;

/* Opens path and reads the header. delim 0 auto-detects. On success *out is
 * a reader the caller closes with gpn_csv_close(). */
int gpn_csv_open(const char *path, char delim, struct gpn_csv **out, struct gpn_err *err);
/* Reads the next record: 1 when a record was read, 0 at end of file, a
 * negative code on malformed input (err says file:line and what). Blank
 * lines are skipped. */
int gpn_csv_next(struct gpn_csv *csv, struct gpn_err *err);
/* Accepts NULL. */
void gpn_csv_close(struct gpn_csv *csv);

int gpn_csv_nfields(const struct gpn_csv *csv);
/* Field i of the current record (i < nfields), never NULL. */
const char *gpn_csv_field(const struct gpn_csv *csv, int i);
/* Header name of column i. */
const char *gpn_csv_header(const struct gpn_csv *csv, int i);
/* Index of the column named `name` (exact, then case-insensitive), or -1. */
int gpn_csv_col(const struct gpn_csv *csv, const char *name);
/* Like gpn_csv_col but fails with "FILE: missing column 'name' (columns: ...)". */
int gpn_csv_require(const struct gpn_csv *csv, const char *name, int *col, struct gpn_err *err);
/* Line of the current record, and the file path. */
long gpn_csv_line(const struct gpn_csv *csv);
const char *gpn_csv_path(const struct gpn_csv *csv);
char gpn_csv_delim(const struct gpn_csv *csv);

#endif
