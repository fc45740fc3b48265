#!/usr/bin/env bash
# Size report of the boards (issue 7): flash and static RAM of each linked image, read from its
# sections with llvm-size, against the goals (flash under 384 KiB, RAM under 192 KiB) and the
# board's own memory. Build the images first (scripts/test-all.sh does). The stack's high-water
# mark is measured at run time by the boot test (boards/boot-test), which prints it.
#
#   flash = .vector_table + .text + .rodata + .data (its initial values live in flash)
#   RAM   = .data + .bss + .uninit (statics; the stack comes on top)
set -euo pipefail
cd "$(dirname "$0")/../boards"

GOAL_FLASH=$((384 * 1024))
GOAL_RAM=$((192 * 1024))

size_tool=$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-size
[ -x "$size_tool" ] || size_tool=$(command -v llvm-size || true)
if [ -z "$size_tool" ]; then
  echo "llvm-size not found (rustup component add llvm-tools)" >&2
  exit 1
fi

kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }
verdict() { if [ "$1" -le "$2" ]; then echo "within"; else echo "OVER"; fi; }

# report NAME ELF RAM_BYTES_OF_THE_BOARD NOTE
report() {
  local name=$1 elf=$2 board_ram=$3 note=$4
  if [ ! -f "$elf" ]; then
    echo "$name: no image at $elf (build it first)" >&2
    return 1
  fi
  local sections flash ram
  sections=$("$size_tool" -A "$elf")
  sec() { awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' <<<"$sections"; }
  flash=$(($(sec .vector_table) + $(sec .text) + $(sec .rodata) + $(sec .data)))
  ram=$(($(sec .data) + $(sec .bss) + $(sec .uninit)))
  printf '%-16s flash %10s (%s goal %s)   static RAM %10s (%s goal %s; the board has %s)%s\n' \
    "$name" "$(kib $flash)" "$(verdict $flash $GOAL_FLASH)" "$(kib $GOAL_FLASH)" \
    "$(kib $ram)" "$(verdict $ram $GOAL_RAM)" "$(kib $GOAL_RAM)" "$(kib "$board_ram")" "$note"
}

elf_dir=target/thumbv7em-none-eabihf/release
report mps2-an386 "$elf_dir/carillon-mps2-an386" $((4 * 1024 * 1024)) ""
# CI links the NUCLEO against its real map (AXI SRAM, 512 KiB); CARILLON_SIZE_PROBE=1 (a 16 MiB
# RAM, for measuring an image whose statics do not fit) is still available by hand.
report nucleo-h743zi "$elf_dir/carillon-nucleo-h743zi" $((512 * 1024)) ""
