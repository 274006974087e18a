# Sourced by the other scripts: the environment every Tandem script runs in.
# Open MPI refuses to run as root unless told; CI and containers run as root.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Open MPI's daemons notice a host cut off after about 16 s of TCP silence (default: 8 minutes).
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-10}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-2}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
# Tandem picks BLAS threads per rank itself; keep OpenMP-style variables from fighting it.
unset OMP_NUM_THREADS || true
TANDEM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TANDEM_BIN="$TANDEM_ROOT/.build/release/tandem"
export TANDEM_BIN
