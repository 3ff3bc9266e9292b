// <immintrin.h> for the SIMD kernel files.
#pragma once

// GCC 12's AVX-512 headers trip its own uninitialized-variable warnings
// (GCC bug 105593); silence them for the header only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
