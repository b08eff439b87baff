"""A small MAC-learning switch for os-ken, used by the rvs end-to-end tests.

Behaviour (OpenFlow 1.3 only):

* on connect, installs a table-miss flow (priority 0, empty match) that sends
  whole packets to the controller (OFPCML_NO_BUFFER);
* on every packet-in, remembers which port the source MAC came from (per
  datapath), then either forwards to the learned port of the destination MAC
  (and installs a priority-1 flow in_port+eth_src+eth_dst -> output, so later
  packets stay in the switch) or floods;
* sends the packet itself back out with a PACKET_OUT carrying the packet data
  (or the switch's buffer id when the switch buffered it).

The test starts it as
``osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port PORT learning_switch.py``
and prints one line per learned (dpid, mac, port) so the test log shows what
the controller saw.  Lines starting with ``RVS-E2E`` are meant for the test.
"""

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ethernet, ether_types, packet
from os_ken.ofproto import ofproto_v1_3

# Bound on learned entries per datapath: a flood of random source MACs must
# not grow the controller without limit.
MAX_MACS_PER_DP = 4096


class RvsLearningSwitch(app_manager.OSKenApp):
    """MAC learning over OpenFlow 1.3 packet-in / flow-mod / packet-out."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # dpid -> {mac: port}
        self.tables = {}

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def on_features(self, ev):
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        to_ctrl = parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)
        self._flow(dp, 0, parser.OFPMatch(), [to_ctrl])
        print("RVS-E2E connected dpid=%016x" % dp.id, flush=True)

    def _flow(self, dp, priority, match, actions, buffer_id=None):
        ofp, parser = dp.ofproto, dp.ofproto_parser
        inst = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        kwargs = dict(datapath=dp, priority=priority, match=match, instructions=inst)
        if buffer_id is not None and buffer_id != ofp.OFP_NO_BUFFER:
            kwargs["buffer_id"] = buffer_id
        dp.send_msg(parser.OFPFlowMod(**kwargs))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def on_packet_in(self, ev):
        msg = ev.msg
        dp = msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        in_port = msg.match["in_port"]

        eth = packet.Packet(msg.data).get_protocols(ethernet.ethernet)
        if not eth:
            return
        eth = eth[0]
        if eth.ethertype == ether_types.ETH_TYPE_LLDP:
            return

        table = self.tables.setdefault(dp.id, {})
        if eth.src not in table and len(table) >= MAX_MACS_PER_DP:
            table.clear()
        if table.get(eth.src) != in_port:
            table[eth.src] = in_port
            print(
                "RVS-E2E learned dpid=%016x mac=%s port=%d" % (dp.id, eth.src, in_port),
                flush=True,
            )

        out_port = table.get(eth.dst, ofp.OFPP_FLOOD)
        actions = [parser.OFPActionOutput(out_port)]

        if out_port != ofp.OFPP_FLOOD:
            match = parser.OFPMatch(in_port=in_port, eth_src=eth.src, eth_dst=eth.dst)
            if msg.buffer_id != ofp.OFP_NO_BUFFER:
                # The flow-mod releases the buffered packet; no packet-out.
                self._flow(dp, 1, match, actions, msg.buffer_id)
                return
            self._flow(dp, 1, match, actions)

        data = msg.data if msg.buffer_id == ofp.OFP_NO_BUFFER else None
        dp.send_msg(
            parser.OFPPacketOut(
                datapath=dp,
                buffer_id=msg.buffer_id,
                in_port=in_port,
                actions=actions,
                data=data,
            )
        )
