#ifndef TANDEM_CSAMPLERATE_SHIM_H
#define TANDEM_CSAMPLERATE_SHIM_H
#include <samplerate.h>
#endif
