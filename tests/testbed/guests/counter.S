# counter.S: a 512-byte x86 boot sector that counts on the serial port.
#
# Loops forever writing an increasing 32-bit counter as 8 hex digits and a
# newline ("0000002A\n") to COM1 (port 0x3F8), waiting about 250 us with
# the BIOS (int 0x15, ah=0x86) after every 4th line: about 4,000 lines a
# second under TCG (the BIOS wait lasts about 1 ms there). The counter
# lives in %ebx (CPU state), so a migrated guest continues from where it was.
# Built by build.sh: as --32, ld -Ttext 0x7c00 --oformat binary.
        .code16
        .globl _start
_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x7c00, %sp
        sti
        xor     %ebx, %ebx              # the counter
next:
        mov     %ebx, %esi
        mov     $8, %cx
digit:
        rol     $4, %esi
        mov     %si, %ax
        and     $0x0f, %al
        add     $'0', %al
        cmp     $'9', %al
        jbe     1f
        add     $7, %al                 # 'A'..'F'
1:      call    putc
        loop    digit
        mov     $'\n', %al
        call    putc
        inc     %ebx
        test    $3, %bl                 # wait after every 4th line
        jnz     next
        pushal
        mov     $0x86, %ah              # BIOS wait, cx:dx microseconds
        xor     %cx, %cx
        mov     $250, %dx
        int     $0x15
        popal
        jmp     next

# putc: writes %al to COM1 once its transmit register is empty.
putc:
        push    %ax
        mov     $0x3fd, %dx             # line status register
2:      in      %dx, %al
        test    $0x20, %al
        jz      2b
        pop     %ax
        mov     $0x3f8, %dx
        out     %al, %dx
        ret

        .org    510
        .word   0xaa55
