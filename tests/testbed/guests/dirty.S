# dirty.S: a 512-byte x86 boot sector that keeps 48 MiB of memory dirty.
#
# Enables A20, switches to 32-bit protected mode (flat 4 GiB segments),
# writes "dirty: protected mode" to COM1, then rewrites 0x01000000..0x03FFFFFF
# (48 MiB of a 64 MiB guest) again and again with a non-zero value that
# changes every pass, printing one '.' per pass. Every page stays non-zero and
# dirty, so a live migration at a low bandwidth (virsh migrate --bandwidth 1)
# has a long "middle" and never converges (TESTBEDS.md section 8).
# Built by build.sh: as --32, ld -Ttext 0x7c00 --oformat binary.
        .set    AREA_START, 0x01000000  # 16 MiB
        .set    AREA_DWORDS, 0x00c00000 # 48 MiB / 4

        .code16
        .globl _start
_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %ss
        mov     $0x7c00, %sp
        in      $0x92, %al              # fast A20
        or      $2, %al
        and     $0xfe, %al
        out     %al, $0x92
        lgdtl   gdt_desc
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $pm

        .code32
pm:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x7c00, %esp
        mov     $msg, %esi
3:      lodsb
        test    %al, %al
        jz      4f
        call    putc
        jmp     3b
4:      mov     $0x01010101, %ebx       # the fill value, never zero
pass:
        mov     $AREA_START, %edi
        mov     $AREA_DWORDS, %ecx
        mov     %ebx, %eax
        cld
        rep stosl
        add     $0x01020304, %ebx
        or      $1, %ebx
        mov     $'.', %al
        call    putc
        jmp     pass

putc:
        push    %eax
        mov     $0x3fd, %dx
5:      in      %dx, %al
        test    $0x20, %al
        jz      5b
        pop     %eax
        mov     $0x3f8, %dx
        out     %al, %dx
        ret

msg:    .asciz  "dirty: protected mode\n"

        .p2align 3
gdt:    .quad   0
        .quad   0x00cf9a000000ffff      # 0x08: code, flat, 32-bit
        .quad   0x00cf92000000ffff      # 0x10: data, flat
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt

        .org    510
        .word   0xaa55
