#!/bin/sh
# /init of the guest: load the module, run the tests, unload, reload.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "GUEST BOOTED $(uname -r)"
if insmod /mergemem.ko; then
	ls -l /dev/mergemem
	/guest-test
	echo "GUEST RC $?"
	/bin/sh /cli.sh
	rmmod mergemem && echo "GUEST UNLOADED"
	insmod /mergemem.ko && /guest-test --handshake && echo "GUEST RELOADED"
	rmmod mergemem
else
	echo "GUEST FAIL insmod"
fi
echo "GUEST DONE"
poweroff -f
