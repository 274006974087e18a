#ifndef TANDEM_CMPI_SHIM_H
#define TANDEM_CMPI_SHIM_H
#include <mpi.h>

/* Open MPI's handles are macros over addresses of global structs, which Swift cannot import.
   These inline functions hand them to Swift as plain values. */
static inline MPI_Comm tandem_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype tandem_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tandem_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype tandem_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype tandem_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Op tandem_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op tandem_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op tandem_mpi_min(void) { return MPI_MIN; }
static inline void *tandem_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request tandem_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Errhandler tandem_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int tandem_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int tandem_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int tandem_mpi_success(void) { return MPI_SUCCESS; }
static inline int tandem_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline MPI_Status *tandem_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Info tandem_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline int tandem_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int tandem_mpi_mode_nocheck(void) { return MPI_MODE_NOCHECK; }
static inline MPI_Win tandem_mpi_win_null(void) { return MPI_WIN_NULL; }

#endif
