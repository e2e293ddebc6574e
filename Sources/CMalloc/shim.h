#ifndef CMALLOC_SHIM_H
#define CMALLOC_SHIM_H
/* glibc's malloc statistics (mallinfo2, glibc 2.33+), which Swift's Glibc module leaves out:
   the broker's heap bytes in use, for /metrics and the memory checks. */
#include <malloc.h>
#endif
