/*
 * util.h - small helpers shared by the nestmmu command-line tool.
 */
#ifndef NESTMMU_CLI_UTIL_H
#define NESTMMU_CLI_UTIL_H

#include <stddef.h>

/* realloc that never returns NULL: prints a message and exits 1 instead. */
void *cli_xrealloc(void *p, size_t size);

/* Grows *buf (with capacity *cap elements of `elem` bytes) to hold `need`. */
void cli_grow(void **buf, size_t *cap, size_t need, size_t elem);

#endif
