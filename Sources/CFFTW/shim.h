#ifndef TANDEM_CFFTW_SHIM_H
#define TANDEM_CFFTW_SHIM_H
#include <fftw3.h>
#endif
