#ifndef TANDEM_CBLAS_SHIM_H
#define TANDEM_CBLAS_SHIM_H
#include <cblas.h>
#endif
