# gnuplot: coord-bench against wrk, from the rows scripts/bench.sh writes (build/bench/results.csv).
# For each workload one column of two panels: throughput against client count (top) and p99
# latency against client count (bottom), one series for coord-bench and one for wrk.
#
#   gnuplot -e "datafile='build/bench/results.csv'; outfile='docs/bench.svg'" benchmarks/plot.gp
# Optional: workloads='put get' (the columns, in order), subtitle='...' (under the title).
# Columns are looked up by the names in the CSV's header line.

if (!exists("datafile")) datafile = "build/bench/results.csv"
if (!exists("outfile")) outfile = "docs/bench.svg"
if (!exists("workloads")) workloads = "put get"
if (!exists("subtitle")) subtitle = ""

set datafile separator ","
set datafile columnheaders
set datafile missing "nan"

# x range and tics from the client counts present in the data
stats datafile using "clients" nooutput
xmin = STATS_min
xmax = STATS_max

n = words(workloads)
set terminal svg size (n * 480 > 520 ? n * 480 : 520), 720 dynamic enhanced \
    font "sans,12" background "white"
set output outfile

title = "coord-bench vs wrk on the etcd v3 JSON gateway" . \
        (strlen(subtitle) > 0 ? "\n{/*0.8 " . subtitle . "}" : "")
set multiplot layout 2, n title title

set logscale x 2
set xrange [xmin / 1.5 : xmax * 1.5]
set xlabel "clients (connections)"
set grid xtics ytics lc rgb "#dddddd"
set key top left box opaque
set pointsize 1.2
set style line 1 lc rgb "#1f77b4" lw 2 pt 7      # coord-bench
set style line 2 lc rgb "#7f7f7f" lw 2 pt 5 dt 2 # wrk

sel(w, col) = (strcol("workload") eq w ? column(col) : NaN)

do for [i = 1:n] {
  w = word(workloads, i)
  set title w . ": throughput"
  set ylabel "operations / s"
  unset logscale y
  set yrange [0:*]
  set format y "%.0s%c"
  plot datafile using "clients":(sel(w, "coord_ops_per_s")) with linespoints ls 1 title "coord-bench", \
       datafile using "clients":(sel(w, "wrk_ops_per_s")) with linespoints ls 2 title "wrk"
}
do for [i = 1:n] {
  w = word(workloads, i)
  set title w . ": p99 latency"
  set ylabel "p99 (ms)"
  set logscale y 10
  set yrange [*:*]
  set format y "%g"
  plot datafile using "clients":(sel(w, "coord_p99_us") / 1000.0) with linespoints ls 1 title "coord-bench", \
       datafile using "clients":(sel(w, "wrk_p99_us") / 1000.0) with linespoints ls 2 title "wrk"
}
unset multiplot
set output
