"""dmarl_des: discrete-event simulation of decentralized multi-agent RL under failures."""
