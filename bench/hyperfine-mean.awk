# Prints the mean (seconds) of the command named `want` (hyperfine -n) from a
# file written by hyperfine --export-json, which puts one key per line.
#   awk -v want=NAME -f hyperfine-mean.awk FILE
/"command":/ {
  cmd = $0
  sub(/^[^:]*: *"/, "", cmd)
  sub(/", *$/, "", cmd)
}
/"mean":/ && cmd == want {
  m = $0
  sub(/^[^:]*: */, "", m)
  sub(/,.*$/, "", m)
  print m + 0
  found = 1
  exit
}
END { if (!found) exit 1 }
