# shellcheck shell=bash
# tests/guest/cases.sh — the guest test case table, sourced by run.sh (kvmm) and run-qemu.sh
# (QEMU microvm/pc). One case per line, fields separated by '|', blanks around fields ignored:
#
#   name | payload | kvmm args | status | regexes | stdin | qemu | kvmm
#
#   name     unique case name (run.sh/run-qemu.sh take a name regex to run a subset)
#   payload  file in $PAYLOAD_DIR; '-' runs kvmm with no --kernel (the built-in demo guest)
#   args     extra `kvmm run` arguments, shell words (quote with "..."); placeholders:
#            @INITRD@ @INITRD_SIZE@ @INITRD_SUM@ (a random initrd made per run, with its size
#            and `cksum` CRC), @EPOCH@ (host UTC seconds just before the VMM starts) and
#            @EPOCH_WRONG@ (the same minus one hour, for the negative case), @DISK@ (a fresh
#            8 MiB raw image filled with 0xee, one per case).
#            The runners always add --debug-exit and, unless the case has its own --serial,
#            --serial stdio (QEMU: isa-debug-exit on 0xf4 and -serial stdio); run-qemu.sh
#            appends "qemu=1" to the guest command line. The virtio-console cases use
#            --console stdio --serial none: stdin and the checked output are hvc0's.
#   status   expected exit status: 1 = payload passed (debug-exit code 0), 0 = powered off or
#            reset with --on-reboot exit; 3/5/7 are payload failures (see payload.h).
#            reboots:N = the guest must boot N times (serial shows "payload NAME: booted via"
#            N times), then the runner stops the VMM with SIGTERM (for --on-reboot restart)
#   regexes  extended regexes separated by ';;'; each must match a line of the VMM's stdout
#   stdin    bytes for the VMM's stdin (printf %b escapes), '-' for none (/dev/null)
#   qemu     microvm | pc | skip: machine for run-qemu.sh (skip: kvmm-only case)
#   kvmm     yes | skip (skip: QEMU-only variant, e.g. the PM1a power-off path of -M pc)

# Exit status of kvmm after a guest reset with --on-reboot exit. The lead documents the final
# value; 0 for now (QEMU -no-reboot also exits 0).
RESET_STATUS=${RESET_STATUS:-0}

# shellcheck disable=SC2016,SC2034 # $RESET_STATUS is expanded per case; used by lib.sh
GUEST_CASES='
boot-pvh       | boot.elf           | --memory 128M --initrd @INITRD@ --cmdline "hello=world mem=128 initrd_size=@INITRD_SIZE@ initrd_sum=@INITRD_SUM@" | 1 | ^PASS boot;;^ok - initrd cksum;;^ok - ACPI RSDP found by the legacy scan;;^ok - hvm_start_info.rsdp_paddr | - | microvm | yes
boot-multiboot | boot.mb.elf        | --memory 128M --initrd @INITRD@ --cmdline "hello=world mem=128 initrd_size=@INITRD_SIZE@ initrd_sum=@INITRD_SUM@" | 1 | ^PASS boot;;booted via multiboot;;^ok - initrd cksum | - | microvm | yes
boot-1g        | boot.elf           | --memory 1G --cmdline "hello=world mem=1024" | 1 | ^PASS boot;;matches --memory 1024 MiB | - | microvm | yes
boot-4g        | boot.elf           | --memory 4G --cmdline "hello=world mem=4096" | 1 | ^PASS boot;;matches --memory 4096 MiB;;^ok - no RAM over the APIC pages | - | microvm | yes
longmode_ring3 | longmode_ring3.elf | --memory 128M --cmdline "iters=100000000" | 1 | ^PASS longmode_ring3;;^ring3: hello from CPL3 after 100000000 | - | microvm | yes
smp-1          | smp.elf            | --cpus 1 --cmdline "cpus=1" | 1 | ^PASS smp | - | microvm | yes
smp-2          | smp.elf            | --cpus 2 --cmdline "cpus=2" | 1 | ^PASS smp;;^ok - 1 of 1 APs checked in | - | microvm | yes
smp-4-smt      | smp.elf            | --cpus 4,sockets=1,cores=2,threads=2 --cmdline "cpus=4 sockets=1 cores=2 threads=2" | 1 | ^PASS smp;;^ok - 3 of 3 APs;;^ok - topology matches | - | microvm | yes
smp-4-sockets  | smp.elf            | --cpus 4,sockets=2,cores=2,threads=1 --cmdline "cpus=4 sockets=2 cores=2 threads=1" | 1 | ^PASS smp;;^smp: 2 packages seen | - | microvm | yes
smp-multiboot  | smp.mb.elf         | --cpus 2 --cmdline "cpus=2" | 1 | ^PASS smp;;booted via multiboot | - | microvm | yes
timer_irq      | timer_irq.elf      | --cmdline "ticks=20 thre=8" | 1 | ^PASS timer_irq;;^ok - 20 LAPIC timer ticks;;^ok - 8/8 THRE | - | microvm | yes
timer_irq-rx   | timer_irq.elf      | --cmdline "rx=ping42" | 1 | ^PASS timer_irq;;^ok - received "ping42" | ping42\n | microvm | yes
rtc            | rtc.elf            | --cmdline "epoch=@EPOCH@" | 1 | ^PASS rtc | - | microvm | yes
poweroff       | poweroff.elf       | --memory 128M | 0 | ^poweroff: powering off | - | microvm | yes
poweroff-pm1   | poweroff.elf       | --memory 128M | 0 | ^acpi: PM1a_CNT port | - | pc | skip
reset-triple   | reset.elf          | --on-reboot exit --cmdline "reset=triple" | $RESET_STATUS | ^reset: resetting via triple | - | microvm | yes
reset-kbd      | reset.elf          | --on-reboot exit --cmdline "reset=kbd" | $RESET_STATUS | ^reset: resetting via kbd | - | pc | yes
reset-cf9      | reset.elf          | --on-reboot exit --cmdline "reset=cf9" | $RESET_STATUS | ^reset: resetting via cf9 | - | pc | yes
reset-restart  | reset.elf          | --on-reboot restart --cmdline "reset=triple" | reboots:3 | ^reset: resetting via triple | - | microvm | yes
hostile        | hostile.elf        | --memory 128M | 1 | ^PASS hostile;;^hostile: survived | - | microvm | yes
fwcfg          | fwcfg.elf          | --cpus 2 --memory 256M --cmdline "cpus=2 mem=256" | 1 | ^PASS fwcfg;;^ok - DMA and data-port reads agree | - | microvm | yes
virtio-rng     | virtio_rng.elf     | --rng on,transport=mmio --cmdline "reqs=8" | 1 | ^PASS virtio_rng;;^virtio_rng: 8 requests of 64 bytes served | - | microvm | yes
virtio-blk     | virtio_blk.elf     | --disk path=@DISK@,serial=kvmm-disk0,transport=mmio --cmdline "serial=kvmm-disk0" | 1 | ^PASS virtio_blk;;^ok - GET_ID matches serial=kvmm-disk0;;^ok - IN sector 0: status 0 | - | microvm | yes
virtio-blk-ro  | virtio_blk.elf     | --disk path=@DISK@,readonly=on,serial=ro0,transport=mmio --cmdline "serial=ro0 ro=1" | 1 | ^PASS virtio_blk;;^ok - OUT on a read-only disk: status 1 \(IOERR\) | - | microvm | yes
virtio-rng-blk | virtio_blk.elf     | --rng on,transport=mmio --disk path=@DISK@,serial=second,transport=mmio --cmdline "serial=second" | 1 | ^PASS virtio_blk | - | microvm | yes
virtio-rng-pci | virtio_rng.elf     | --rng on --cmdline "reqs=8 transport=pci" | 1 | ^PASS virtio_rng;;^virtio-pci: device 1044 at 00:01.0;;^virtio_rng: 8 requests of 64 bytes served | - | microvm | yes
virtio-rng-pci-msix | virtio_rng.elf | --rng on,transport=pci --cmdline "reqs=8 transport=pci msix=1" | 1 | ^PASS virtio_rng;;^ok - MSI-X enabled;;^ok - 8 MSI-X interrupts for 8 completions | - | microvm | yes
virtio-rng-pci-intx | virtio_rng.elf | --rng on --cmdline "reqs=8 transport=pci intx=17" | 1 | ^PASS virtio_rng;;^ok - 8 INTx interrupts on GSI 17 for 8 completions, ISR queue bit in 8 | - | microvm | yes
snapshot-run-pci  | snapshot.elf | --memory 128M --disk path=@DISK@ --cmdline "rounds=4 fill=1 spin=1001 blk=1 transport=pci msix=1" | 1 | ^PASS snapshot;;^ok - 4 of 4 written sectors read back;;^ok - 11 MSI-X interrupts for 11 requests | - | microvm | yes
snapshot-run-mmio | snapshot.elf | --memory 128M --disk path=@DISK@,transport=mmio --cmdline "rounds=4 fill=1 spin=1001 blk=1" | 1 | ^PASS snapshot;;^ok - 4 of 4 written sectors read back | - | microvm | yes
virtio-blk-pci | virtio_blk.elf     | --disk path=@DISK@,serial=kvmm-pci0 --cmdline "serial=kvmm-pci0 transport=pci" | 1 | ^PASS virtio_blk;;^virtio-pci: device 1042;;^ok - GET_ID matches serial=kvmm-pci0;;^ok - IN sector 0: status 0 | - | microvm | yes
virtio-blk-pci-ro | virtio_blk.elf  | --disk path=@DISK@,readonly=on,serial=ro1,transport=pci --cmdline "serial=ro1 ro=1 transport=pci" | 1 | ^PASS virtio_blk;;^ok - OUT on a read-only disk: status 1 \(IOERR\) | - | microvm | yes
virtio-mixed   | virtio_blk.elf     | --rng on,transport=mmio --disk path=@DISK@,serial=pci1 --cmdline "serial=pci1 transport=pci" | 1 | ^PASS virtio_blk;;^ok - GET_ID matches serial=pci1 | - | microvm | yes
virtio-console | virtio_console.elf | --console stdio,transport=mmio --serial none --cmdline "rx=21 sum=4006977468" | 1 | ^virtio_console: hello from hvc0;;^virtio_console: emergency write;;^virtio_console: echo ping-hvc0 0123456789$;;^virtio_console: received 21 of 21 bytes;;^virtio_console: PASS | ping-hvc0 0123456789\n | microvm | yes
virtio-console-small | virtio_console.elf | --console stdio,transport=mmio --serial none --cmdline "rx=55 sum=3577630309 bufs=2 buflen=3" | 1 | ^virtio_console: echo The quick brown fox jumps over the lazy dog 0123456789$;;^virtio_console: received 55 of 55 bytes;;^virtio_console: PASS | The quick brown fox jumps over the lazy dog 0123456789\n | microvm | yes
virtio-console-devs | virtio_console.elf | --rng on --disk path=@DISK@ --console stdio --serial none --cmdline "rx=21 sum=4006977468 transport=pci" | 1 | ^virtio_console: transport virtio-pci$;;^virtio_console: hello from hvc0;;^virtio_console: echo ping-hvc0 0123456789$;;^virtio_console: PASS | ping-hvc0 0123456789\n | microvm | yes
virtio-console-pci | virtio_console.elf | --console stdio --serial none --cmdline "rx=55 sum=3577630309 bufs=2 buflen=3 transport=pci" | 1 | ^virtio_console: transport virtio-pci$;;^virtio_console: hello from hvc0;;^virtio_console: emergency write;;^virtio_console: echo The quick brown fox jumps over the lazy dog 0123456789$;;^virtio_console: received 55 of 55 bytes;;^virtio_console: PASS | The quick brown fox jumps over the lazy dog 0123456789\n | microvm | yes
virtio-console-mixed | virtio_console.elf | --rng on --net user,transport=mmio --console stdio,transport=mmio --serial none --cmdline "rx=21 sum=4006977468" | 1 | ^virtio_console: transport virtio-mmio$;;^virtio_console: echo ping-hvc0 0123456789$;;^virtio_console: PASS | ping-hvc0 0123456789\n | microvm | yes
virtio-rng-packed | virtio_rng.elf  | --rng on,transport=mmio,packed=on --cmdline "reqs=40 packed=1 batch=4" | 1 | ^PASS virtio_rng;;^virtio_rng: packed virtqueue$;;^ok - device offers VIRTIO_F_RING_PACKED;;^ok - requests 36..39: used-buffer interrupt raised;;^virtio_rng: 40 requests of 64 bytes served | - | microvm | yes
virtio-rng-packed-indirect | virtio_rng.elf | --rng on,transport=mmio,packed=on --cmdline "reqs=24 packed=1 batch=4 indirect=1 nointr=1" | 1 | ^PASS virtio_rng;;^virtio_rng: packed virtqueue, indirect, interrupts suppressed;;^ok - requests 20..23: used-buffer interrupt suppressed | - | microvm | yes
virtio-rng-split-indirect | virtio_rng.elf | --rng on,transport=mmio --cmdline "reqs=24 batch=4 indirect=1 nointr=1" | 1 | ^PASS virtio_rng;;^virtio_rng: split virtqueue, indirect, interrupts suppressed;;^ok - requests 20..23: used-buffer interrupt suppressed | - | microvm | yes
virtio-blk-packed | virtio_blk.elf  | --disk path=@DISK@,serial=kvmm-disk0,transport=mmio,packed=on --cmdline "serial=kvmm-disk0 packed=1" | 1 | ^PASS virtio_blk;;^virtio_blk: packed virtqueue;;^ok - GET_ID matches serial=kvmm-disk0;;^ok - IN sector 0: status 0 | - | microvm | yes
virtio-blk-ro-packed | virtio_blk.elf | --disk path=@DISK@,readonly=on,serial=ro0,transport=mmio,packed=on --cmdline "serial=ro0 ro=1 packed=1" | 1 | ^PASS virtio_blk;;^virtio_blk: packed virtqueue;;^ok - OUT on a read-only disk: status 1 \(IOERR\) | - | microvm | yes
virtio-blk-pci-packed | virtio_blk.elf | --disk path=@DISK@,serial=pk1,packed=on --cmdline "serial=pk1 transport=pci packed=1" | 1 | ^PASS virtio_blk;;^virtio_blk: packed virtqueue;;^virtio-pci: device 1042;;^ok - GET_ID matches serial=pk1 | - | microvm | yes
virtio-rng-pci-packed | virtio_rng.elf | --rng on,packed=on --cmdline "reqs=24 transport=pci packed=1 batch=4 indirect=1" | 1 | ^PASS virtio_rng;;^virtio_rng: packed virtqueue, indirect;;^ok - requests 20..23: used-buffer interrupt raised | - | microvm | yes
virtio-net-user | virtio_net.elf   | --net user,mac=52:54:00:12:34:56,transport=mmio --cmdline "mac=52:54:00:12:34:56" | 1 | ^PASS virtio_net;;^ok - DHCP ACK: address 10.0.2.15;;^ok - ARP: 10.0.2.2 is at 52:55;;^ok - ICMP echo reply from 10.0.2.2$ | - | microvm | yes
virtio-net-user-net | virtio_net.elf | --net user,net=10.9.8.0/24,restrict=on,transport=mmio | 1 | ^PASS virtio_net;;^virtio_net: DHCP offer 10.9.8.15 from server 10.9.8.2;;^ok - ICMP echo reply from 10.9.8.2$ | - | microvm | yes
virtio-net-user-pci | virtio_net.elf | --net user,mac=52:54:00:12:34:56 --cmdline "mac=52:54:00:12:34:56 transport=pci msix" | 1 | ^PASS virtio_net;;^virtio-pci: device 1041 at 00:01.0;;^virtio_net: 3 queues, 4 MSI-X vectors;;^ok - config vector 4 \(past the table\) reads back NO_VECTOR;;^ok - MSI-X: rx0 interrupts on vector 0;;^ok - MSI-X: tx0 interrupts on vector 1;;^virtio_net: device at 0x[0-9a-f]+ \(virtio-pci\);;^ok - MAC from the config space matches;;^ok - DHCP ACK: address 10.0.2.15;;^ok - ARP: 10.0.2.2 is at 52:55;;^ok - ICMP echo reply from 10.0.2.2$ | - | microvm | yes
virtio-net-user-pci-devs | virtio_net.elf | --rng on --disk path=@DISK@ --net user,net=10.9.8.0/24 --cmdline "transport=pci" | 1 | ^PASS virtio_net;;^virtio-pci: device 1041 at 00:03.0;;^virtio_net: DHCP offer 10.9.8.15 from server 10.9.8.2;;^ok - ICMP echo reply from 10.9.8.2$ | - | microvm | yes
xsave          | xsave.elf          | --cpu host --cmdline "xcr0=report" | 1 | ^PASS xsave;;^ok - 0xD.0 ECX [0-9]+ == max;;^ok - avx o[nf]+, XCR0 components 0x4 | - | microvm | yes
xsave-noavx    | xsave.elf          | --cpu host,-avx --cmdline "xcr0=report" | 1 | ^PASS xsave;;^ok - 0xD.0 ECX [0-9]+ == max;;^ok - avx off, XCR0 components 0x4 not offered | - | microvm | yes
xsave-v1       | xsave.elf          | --cpu x86-64-v1 | 1 | ^PASS xsave;;^ok - XSAVE off: every 0xD sub-leaf is zero;;^ok - XSAVE off: AVX off | - | skip | yes
xsave-v3       | xsave.elf          | --cpu x86-64-v3 --cmdline "xcr0=report" | 1 | ^PASS xsave;;^ok - 0xD.0 ECX [0-9]+ == max;;^ok - avx on, XCR0 components 0x4 offered | - | skip | yes
demo           | demo.elf           | --cpus 2 --memory 128M | 0 | Hello from the kvmm demo guest;;^  Ring 3: ;;^All done | - | microvm | yes
fatal-exit     | fatal.elf          | | 4 | ^fatal: aesenc with an MMIO operand | - | skip | yes
demo-builtin   | -                  | | 0 | Hello from the kvmm demo guest;;^All done | - | skip | yes
# Negative cases: the payloads must notice wrong values and broken code (status 3 = a check
# failed, 5 = an unexpected exception was reported).
neg-boot-cmdline  | boot.elf           | --cmdline "hello=word" | 3 | ^not ok - cmdline hello=world | - | microvm | yes
neg-packed-off    | virtio_rng.elf     | --rng on,transport=mmio --cmdline "reqs=8 packed=1" | 3 | ^not ok - device offers VIRTIO_F_RING_PACKED | - | skip | yes
neg-boot-initrd   | boot.elf           | --initrd @INITRD@ --cmdline "hello=world initrd_size=@INITRD_SIZE@ initrd_sum=12345" | 3 | ^not ok - initrd cksum | - | microvm | yes
neg-boot-mem      | boot.elf           | --memory 128M --cmdline "hello=world mem=256" | 3 | ^not ok - RAM total | - | microvm | yes
neg-smp-topology  | smp.elf            | --cpus 2 --cmdline "cpus=2 sockets=1 cores=1 threads=2" | 3 | ^not ok - topology matches | - | microvm | yes
neg-rtc-epoch     | rtc.elf            | --cmdline "epoch=@EPOCH_WRONG@" | 3 | ^not ok - default: RTC within 5 s | - | microvm | yes
neg-fwcfg-cpus    | fwcfg.elf          | --cpus 1 --cmdline "cpus=2" | 3 | ^not ok - FW_CFG_NB_CPUS 1 | - | microvm | yes
neg-virtio-console-sum | virtio_console.elf | --console stdio --serial none --cmdline "rx=21 sum=12345 transport=pci" | 3 | ^virtio_console: not ok - cksum 4006977468, want 12345;;^virtio_console: FAIL | ping-hvc0 0123456789\n | microvm | yes
neg-exc-ud        | longmode_ring3.elf | --cmdline "fault=ud" | 5 | exception vector 6 \(#UD\) at rip | - | microvm | yes
neg-exc-pf        | longmode_ring3.elf | --cmdline "fault=pf" | 5 | exception vector 14 \(#PF\).*cr2 7f0000000000 | - | microvm | yes
neg-exc-user-pf   | longmode_ring3.elf | --cmdline "fault=user" | 5 | user exception vector 14 \(#PF\) at rip [0-9a-f]+ cs 33 | - | microvm | yes
'
