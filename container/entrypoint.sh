#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Entrypoint of the prhd container image, for KubeVirt's pr-helper slot.
# Does what KubeVirt's own pr-helper entrypoint does and nothing more: point
# /run/multipathd.socket (or $MULTIPATH_SOCKET_NAME) at the multipathd socket
# that the host shares in the pr-helper directory, then replace itself with
# the helper, which becomes PID 1 and gets the arguments unchanged
# (KubeVirt: -k /var/run/kubevirt/daemons/pr/pr-helper.sock).
link=${MULTIPATH_SOCKET_NAME:-/run/multipathd.socket}
# A dangling link is harmless and starts working when the socket appears;
# a failure is reported but not fatal, as in KubeVirt's script.
ln -sfn /var/run/kubevirt/daemons/pr/multipathd.socket "$link" ||
        echo "entrypoint: cannot link $link" >&2
exec /usr/sbin/prhd "$@"
