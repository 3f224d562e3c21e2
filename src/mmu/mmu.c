/*
 * mmu.c - shared pieces of the hypervisor MMUs.
 */
#include "mmu/mmu.h"

const char *ret_pf_name(enum ret_pf r)
{
	switch (r) {
	case RET_PF_FIXED:    return "fixed";
	case RET_PF_RETRY:    return "retry";
	case RET_PF_SPURIOUS: return "spurious";
	case RET_PF_INJECT:   return "inject";
	case RET_PF_EMULATE:  return "emulate";
	case RET_PF_ERROR:    return "error";
	}
	return "?";
}
