/*
 * util.c - small helpers shared by the nestmmu command-line tool.
 */
#include "cli/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

void *cli_xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (!q) {
		fprintf(stderr, "nestmmu: out of memory\n");
		exit(1);
	}
	return q;
}

void cli_grow(void **buf, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap;

	if (need <= n)
		return;
	if (n < 16)
		n = 16;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem) {
			fprintf(stderr, "nestmmu: out of memory\n");
			exit(1);
		}
		n *= 2;
	}
	*buf = cli_xrealloc(*buf, n * elem);
	*cap = n;
}
